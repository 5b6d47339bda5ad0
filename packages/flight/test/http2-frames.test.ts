/**
 * The HTTP/2 frame reader: the same frames, DATA bytes and flags come out however the bytes
 * are cut into chunks, even when every chunk is overwritten right after push() (the
 * connection reads into one reused buffer); oversized frames and bad padding fail.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  FrameFlag, FrameReader, FrameType, Http2ErrorCode, Http2ProtocolError, frame, frameHeader, headerBlockFragment,
  settingsFrame, type FrameHandler,
} from '../src/http2/frames.ts';

type Event =
  | { kind: 'data'; streamId: number; frameBytes: number; bytes: Buffer; flags: number }
  | { kind: 'frame'; type: number; flags: number; streamId: number; payload: Buffer };

/** Records what the reader hands on; DATA pieces are copied (they are only valid during the call), frame payloads are not. */
class Recorder implements FrameHandler {
  readonly events: Event[] = [];
  private open: { streamId: number; frameBytes: number; pieces: Buffer[] } | undefined;

  dataStart(streamId: number, frameBytes: number): void {
    assert.equal(this.open, undefined, 'dataStart inside another DATA frame');
    this.open = { streamId, frameBytes, pieces: [] };
  }

  dataPiece(streamId: number, piece: Buffer): void {
    assert.equal(this.open?.streamId, streamId, 'dataPiece outside its DATA frame');
    assert.ok(piece.length > 0, 'empty DATA piece');
    this.open!.pieces.push(Buffer.from(piece));
  }

  dataEnd(streamId: number, flags: number): void {
    const open = this.open;
    assert.equal(open?.streamId, streamId, 'dataEnd without dataStart');
    this.open = undefined;
    this.events.push({ kind: 'data', streamId, frameBytes: open!.frameBytes, bytes: Buffer.concat(open!.pieces), flags });
  }

  frame(type: number, flags: number, streamId: number, payload: Buffer): void {
    assert.equal(this.open, undefined, 'frame inside a DATA frame');
    this.events.push({ kind: 'frame', type, flags, streamId, payload });
  }
}

function bytes(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff));
}

const headerBlock = bytes(40, 1);
const body = bytes(3000, 2);
const paddedBody = bytes(25, 3);
const pingBytes = bytes(8, 4);
const settingsPayload = settingsFrame([[4, 1 << 20], [5, 32768]]).subarray(9);

/** SETTINGS, HEADERS (PADDED + PRIORITY), DATA, padded DATA, padding-only DATA, PING, empty DATA with END_STREAM. */
const frames = Buffer.concat([
  settingsFrame([[4, 1 << 20], [5, 32768]]),
  frame(FrameType.HEADERS, FrameFlag.PADDED | FrameFlag.PRIORITY | FrameFlag.END_HEADERS, 1,
    Buffer.concat([Buffer.from([6]), Buffer.from([0x80, 0, 0, 3, 15]), headerBlock, Buffer.alloc(6)])),
  frame(FrameType.DATA, 0, 1, body),
  frame(FrameType.DATA, FrameFlag.PADDED, 3, Buffer.concat([Buffer.from([7]), paddedBody, Buffer.alloc(7)])),
  frame(FrameType.DATA, FrameFlag.PADDED, 1, Buffer.from([2, 0, 0])),
  frame(FrameType.PING, 0, 0, pingBytes),
  frame(FrameType.DATA, FrameFlag.END_STREAM, 1),
]);

function checkEvents(events: Event[]): void {
  assert.equal(events.length, 7);
  const [settings, headers, data, padded, paddingOnly, ping, end] = events;
  assert.deepEqual(settings, { kind: 'frame', type: FrameType.SETTINGS, flags: 0, streamId: 0, payload: settingsPayload });
  assert.equal(headers.kind, 'frame');
  assert.equal(headers.type, FrameType.HEADERS);
  assert.equal(headers.flags, FrameFlag.PADDED | FrameFlag.PRIORITY | FrameFlag.END_HEADERS);
  assert.equal(headers.streamId, 1);
  assert.deepEqual(headerBlockFragment(headers.type, headers.flags, headers.payload), headerBlock);
  assert.deepEqual(data, { kind: 'data', streamId: 1, frameBytes: 3000, bytes: body, flags: 0 });
  assert.deepEqual(padded, { kind: 'data', streamId: 3, frameBytes: 33, bytes: paddedBody, flags: FrameFlag.PADDED });
  assert.deepEqual(paddingOnly, { kind: 'data', streamId: 1, frameBytes: 3, bytes: Buffer.alloc(0), flags: FrameFlag.PADDED });
  assert.deepEqual(ping, { kind: 'frame', type: FrameType.PING, flags: 0, streamId: 0, payload: pingBytes });
  assert.deepEqual(end, { kind: 'data', streamId: 1, frameBytes: 0, bytes: Buffer.alloc(0), flags: FrameFlag.END_STREAM });
}

/** Feeds `cuts` (offsets into `frames`) through one reused buffer that is overwritten after every push. */
function readInChunks(cuts: number[]): Event[] {
  const recorder = new Recorder();
  const reader = new FrameReader(recorder, 16_384);
  const scratch = Buffer.alloc(frames.length);
  const bounds = [0, ...cuts, frames.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const length = frames.copy(scratch, 0, bounds[i], bounds[i + 1]);
    reader.push(scratch.subarray(0, length));
    scratch.fill(0xee);
  }
  return recorder.events;
}

describe('FrameReader', () => {
  test('whole frames in one chunk', () => {
    checkEvents(readInChunks([]));
  });

  test('one byte at a time', () => {
    checkEvents(readInChunks(Array.from({ length: frames.length - 1 }, (_, i) => i + 1)));
  });

  test('two chunks split at every position', () => {
    for (let cut = 1; cut < frames.length; cut++) checkEvents(readInChunks([cut]));
  });

  test('a frame longer than frameBytesMax is a FRAME_SIZE_ERROR', () => {
    const reader = new FrameReader(new Recorder(), 16_384);
    reader.push(frame(FrameType.DATA, 0, 1, Buffer.alloc(16_384)));
    assert.throws(() => reader.push(frameHeader(16_385, FrameType.DATA, 0, 1)),
      (error) => error instanceof Http2ProtocolError && error.code === Http2ErrorCode.FRAME_SIZE_ERROR);
  });

  test('DATA padding as long as the payload is a PROTOCOL_ERROR', () => {
    for (const payload of [[], [1], [5, 1, 2]]) {
      const reader = new FrameReader(new Recorder(), 16_384);
      assert.throws(() => reader.push(frame(FrameType.DATA, FrameFlag.PADDED, 1, Buffer.from(payload))),
        (error) => error instanceof Http2ProtocolError && error.code === Http2ErrorCode.PROTOCOL_ERROR);
    }
  });

  test('HEADERS padding longer than the payload is a PROTOCOL_ERROR', () => {
    const flags = FrameFlag.PADDED | FrameFlag.PRIORITY;
    assert.throws(() => headerBlockFragment(FrameType.HEADERS, flags, Buffer.from([3, 0, 0, 0, 0, 0, 1])), Http2ProtocolError);
    assert.throws(() => headerBlockFragment(FrameType.HEADERS, FrameFlag.PADDED, Buffer.alloc(0)), Http2ProtocolError);
    assert.deepEqual(headerBlockFragment(FrameType.HEADERS, flags, Buffer.from([1, 0, 0, 0, 0, 0, 7, 0])), Buffer.from([7]));
  });
});
