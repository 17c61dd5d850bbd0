// Adapter from werift's RTCDataChannel to the DataPipe interface the traffic code (channel.ts) uses.
import type { RTCDataChannel } from 'werift';
import { RtcprobeError } from '../errors.js';
import type { DataPipe } from './channel.js';

export function wrapChannel(dc: RTCDataChannel): DataPipe {
  return {
    get label() {
      return dc.label;
    },
    get isOpen() {
      return dc.readyState === 'open';
    },
    get bufferedAmount() {
      return dc.bufferedAmount;
    },
    get bufferedAmountLowThreshold() {
      return dc.bufferedAmountLowThreshold;
    },
    set bufferedAmountLowThreshold(v: number) {
      dc.bufferedAmountLowThreshold = v;
    },
    send(data: Buffer) {
      if (dc.readyState !== 'open') throw new RtcprobeError('CONNECTION', `data channel "${dc.label}" is ${dc.readyState}`);
      dc.send(data);
    },
    onMessage(cb) {
      const s = dc.onMessage.subscribe((m) => cb(typeof m === 'string' ? Buffer.from(m) : m));
      return () => s.unSubscribe();
    },
    onBufferedAmountLow(cb) {
      const s = dc.bufferedAmountLow.subscribe(() => cb());
      return () => s.unSubscribe();
    },
    onClose(cb) {
      const s = dc.stateChanged.subscribe((st) => {
        if (st === 'closed' || st === 'closing') cb();
      });
      return () => s.unSubscribe();
    },
  };
}
