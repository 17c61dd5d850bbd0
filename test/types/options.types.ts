// Compile-time checks of the option typing, run by test/unit/options.test.ts
// through tsc: each @ts-expect-error must meet an error, or tsc fails.
import { collect, defineCommand, defineOptions, intOption, numberOption, type OptionValues } from '../../src/commands/options.js';
import { RETRANSMIT_OPTIONS, TLS_OPTIONS, TURN_CREDENTIAL_OPTIONS, timeoutOption } from '../../src/commands/shared-options.js';
import type { CommandOutcome } from '../../src/output.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

const specs = defineOptions([
  { flags: '-c, --count <n>', description: 'an integer with a default', default: 5, parse: intOption(1, 10) },
  { flags: '--ratio <x>', description: 'a number, no default', parse: numberOption(0, 1) },
  { flags: '--name <s>', description: 'a string' },
  { flags: '--host <addr>', description: 'a string with a default', default: '127.0.0.1' },
  { flags: '-f, --family <n>', description: 'choices', choices: ['4', '6', 'both'] },
  { flags: '--dns-server <ip>', description: 'repeatable', parse: collect },
  { flags: '--insecure', description: 'on/off' },
  { flags: '--no-srv', description: 'negated on/off' },
  { flags: '--max-peers-per-room <n>', description: 'long name', default: 50, parse: intOption(1, 100) },
  { flags: '--secret <s>', description: 'from the environment', env: 'X_SECRET' },
  timeoutOption('shared, worded per command', { default: 3000, min: 1 }),
  ...RETRANSMIT_OPTIONS,
  ...TLS_OPTIONS,
]);

type O = OptionValues<typeof specs>;
assertType<
  Equal<
    O,
    {
      count: number;
      ratio: number | undefined;
      name: string | undefined;
      host: string;
      family: '4' | '6' | 'both' | undefined;
      dnsServer: string[] | undefined;
      insecure: boolean;
      srv: boolean;
      maxPeersPerRoom: number;
      secret: string | undefined;
      timeout: number;
      rto: number;
      rc: number;
      rm: number;
      ca: string | undefined;
    }
  >
>();
assertType<Equal<OptionValues<typeof TURN_CREDENTIAL_OPTIONS>, { user: string | undefined; password: string | undefined; secret: string | undefined; ttl: number }>>();

declare const o: O;
// @ts-expect-error no such option
void o.counts;
// @ts-expect-error an integer option is a number, not a string
export const asString: string = o.count;
// @ts-expect-error an option without a default may be missing
export const ratio: number = o.ratio;
// @ts-expect-error "5" is not one of the choices
export const isFive = o.family === '5';
// @ts-expect-error the long flag gives the name: --dns-server is dnsServer
void o['dns-server'];

// A command's run gets the options typed from its own specs.
export const command = defineCommand({
  name: 'x',
  summary: 'a command for the type checks',
  options: defineOptions([
    { flags: '--rate <n>', description: '', default: 50, parse: intOption(1, 100) },
    { flags: '--room <room>', description: '' },
  ]),
  run: async (_args, opts, ctx): Promise<CommandOutcome> => {
    const rate: number = opts.rate;
    const room: string | undefined = opts.room;
    // @ts-expect-error not an option of this command
    void opts.count;
    // @ts-expect-error source() takes this command's option names only
    void ctx.source('count');
    ctx.events.emit('tick', { rate, room: room ?? null });
    // @ts-expect-error a command has no stdout of its own: output goes through ctx.events
    void ctx.io;
    return { exitCode: 0, json: { rate }, human: () => String(rate) };
  },
});
