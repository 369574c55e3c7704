/**
 * Canton identifiers as the console parses them, for what super validators communicate in a roll-forward
 * LSU: `<identifier>::<namespace fingerprint>` unique identifiers, physical synchronizer ids with
 * `::<protocol version>-<serial>`. Pure constants, shared by the workflow's input checks and the activities.
 */
export const PHYSICAL_SYNCHRONIZER_ID = /^[A-Za-z0-9._-]{1,185}::[0-9a-fA-F]{4,136}::[0-9]{1,4}-[0-9]{1,9}$/;
export const SEQUENCER_ID = /^(SEQ::)?[A-Za-z0-9._-]{1,185}::[0-9a-fA-F]{4,136}$/;
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;
