import { RtcprobeError } from '../core/errors.js';
import { RFC_RETRANSMIT, type RetransmitOptions } from '../core/stun/retransmit.js';
import { defineOptions, intOption, type OptionValues } from './options.js';

/**
 * Options several commands take, declared once. Spread a group into a
 * command's options (`[...RETRANSMIT_OPTIONS, ...]`); the factories take the
 * wording that differs between commands.
 */

/** RFC 8489 UDP retransmission: --rto, --rc, --rm, defaulting to the RFC's values. */
export const RETRANSMIT_OPTIONS = defineOptions([
  { flags: '--rto <ms>', description: 'initial UDP retransmission timeout (RFC 8489 RTO)', default: RFC_RETRANSMIT.rto, parse: intOption(1, 60000) },
  { flags: '--rc <n>', description: 'UDP requests per transaction, first one included (RFC 8489 Rc)', default: RFC_RETRANSMIT.rc, parse: intOption(1, 20) },
  { flags: '--rm <n>', description: 'wait Rm*RTO after the last request (RFC 8489 Rm)', default: RFC_RETRANSMIT.rm, parse: intOption(1, 64) },
]);

export type RetransmitOptionValues = OptionValues<typeof RETRANSMIT_OPTIONS>;

/** The retransmission settings the options ask for. */
export function retransmitFrom(opts: RetransmitOptionValues): RetransmitOptions {
  return { rto: opts.rto, rc: opts.rc, rm: opts.rm };
}

/** -t, --timeout <ms>: what it limits, its default and least value differ between commands. */
export function timeoutOption(description: string, o: { default: number; min: number; max?: number }) {
  return { flags: '-t, --timeout <ms>', description, default: o.default, parse: intOption(o.min, o.max ?? 120_000) } as const;
}

export function insecureOption(description = 'TLS: accept a certificate that does not verify') {
  return { flags: '--insecure', description } as const;
}

export function caOption(description = 'TLS: trust this PEM CA bundle in addition to the system store') {
  return { flags: '--ca <file>', description } as const;
}

/** --insecure and --ca <file>, in that order. */
export const TLS_OPTIONS = defineOptions([insecureOption(), caOption()]);

/** TURN long-term credentials: a user and password, or a coturn REST secret (with --ttl). */
export const TURN_CREDENTIAL_OPTIONS = defineOptions([
  { flags: '-u, --user <name>', description: 'long-term credential user (with --secret: the user part of the REST username, optional)' },
  { flags: '-p, --password <password>', description: 'long-term credential password (or env RTCPROBE_TURN_PASSWORD)' },
  { flags: '--secret <secret>', description: 'coturn REST API shared secret (static-auth-secret; or env RTCPROBE_TURN_SECRET): credentials are derived from it' },
  { flags: '--ttl <seconds>', description: 'lifetime of REST credentials made from --secret', default: 3600, parse: intOption(1, 10 * 365 * 86400) },
]);

export type TurnCredentialOptionValues = OptionValues<typeof TURN_CREDENTIAL_OPTIONS>;

/**
 * TURN credentials from the flags, then the environment
 * (RTCPROBE_TURN_PASSWORD, RTCPROBE_TURN_SECRET). Flags and files win: a
 * variable is only used when no flag of the same kind was given, and a
 * variable that cannot be used is ignored when something else supplies
 * credentials. Messages about the environment name the variable.
 */
export function pickCredentials(
  opts: Partial<Pick<TurnCredentialOptionValues, 'user' | 'password' | 'secret'>>,
  env: Record<string, string | undefined>,
  haveFile: boolean,
): { user?: string; password?: string; secret?: string } {
  const user = opts.user;
  const flagPassword = opts.password;
  const flagSecret = opts.secret;
  if (flagSecret === '') throw new RtcprobeError('USAGE', '--secret is empty');
  const envPassword = env.RTCPROBE_TURN_PASSWORD || undefined;
  const envSecret = env.RTCPROBE_TURN_SECRET || undefined;
  if (flagSecret !== undefined && flagPassword !== undefined) throw new RtcprobeError('USAGE', '--secret and --password exclude each other');
  if (flagPassword !== undefined && user === undefined) throw new RtcprobeError('USAGE', '--password needs --user');
  let password = flagPassword;
  let secret = flagSecret;
  if (password === undefined && secret === undefined) {
    // Nothing explicit: the environment may supply one of them.
    if (envSecret !== undefined && envPassword !== undefined && user !== undefined) {
      throw new RtcprobeError('USAGE', 'both RTCPROBE_TURN_SECRET and RTCPROBE_TURN_PASSWORD are set: unset one, or pick with --secret or --password');
    }
    if (user !== undefined) {
      password = envPassword;
      secret = password === undefined ? envSecret : undefined;
    } else if (envSecret !== undefined) {
      secret = envSecret;
    } else if (envPassword !== undefined && !haveFile) {
      throw new RtcprobeError('USAGE', 'RTCPROBE_TURN_PASSWORD is set but no --user was given: add --user, or unset the variable');
    }
    // Otherwise RTCPROBE_TURN_PASSWORD without a user is ignored: the --ice-servers file brings its own.
  }
  if (user !== undefined && password === undefined && secret === undefined) {
    throw new RtcprobeError('USAGE', '--user needs --password (or RTCPROBE_TURN_PASSWORD, or --secret for REST credentials)');
  }
  return { ...(user !== undefined ? { user } : {}), ...(password !== undefined ? { password } : {}), ...(secret !== undefined ? { secret } : {}) };
}
