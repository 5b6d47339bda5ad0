/** The WAL's limits live with all the others in ../limits.ts. */
export { WAL_SEGMENT_BYTES_MAX_DEFAULT, WAL_RECORD_BYTES_MAX, WAL_RESCAN_SEQUENCE_WINDOW } from '../limits.ts';
