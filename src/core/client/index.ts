// The client core (RelayClient and its types), for the CLI and the VS Code extension host.
export * from './types';
export { RelayClient, DEFAULT_TUNING } from './relayClient';
export { relayErrorMessage } from './relayErrors';
export { RoomFeatures, applyView, copyChatFields } from './roomFeatures';
export type { FeatureOutput, RoomFeatureLimits } from './roomFeatures';
