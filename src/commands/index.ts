import type { CommandSpec } from './options.js';
import { benchCommand } from './bench.js';
import { mcuCommand } from './mcu.js';
import { natCommand } from './nat.js';
import { peerCommand } from './peer.js';
import { sfuCommand } from './sfu.js';
import { signalCommand } from './signal.js';
import { stunCommand } from './stun.js';
import { turnCommand } from './turn.js';

/**
 * Every command, in the order `rtcprobe --help` lists them. Command modules
 * must stay cheap to import: heavy dependencies (werift) load inside `run`.
 */
export const COMMANDS: CommandSpec[] = [stunCommand, natCommand, signalCommand, turnCommand, peerCommand, benchCommand, sfuCommand, mcuCommand];
