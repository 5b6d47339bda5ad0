export * from './protocol.ts';
export * from './errors.ts';
export * from './server.ts';
export * from './client.ts';
export * from './codec/flight-data.ts';
export * from './codec/ipc.ts';
export { validateData } from './codec/validate.ts';
export * from './codec/ipc-stream.ts';
export { GrpcMessageReader, messagePrefix } from './transport/grpc-framing.ts';
