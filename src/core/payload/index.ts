// The chat payload types of docs/protocol.md §2.3.1-2.3.6, for the client core, the CLI and the
// extension: their field rules (applied by src/core/crypto/payload.ts when P is encoded and
// parsed), files in chunks, the edit/delete/reaction reducer, and @mentions.
export type { ChatFields, FileInfo, PatchShare, ReplyRef } from './fields';
export {
  CHUNK_BYTES, CONTENT_TYPES, EFFECT_TYPES, MAX_CHUNKS, MAX_CHUNK_DATA_CHARS, MAX_FILE_BYTES, MAX_MENTIONS,
  MAX_PATCH_DIFF_BYTES, MAX_PATCH_PATHS, isFingerprintForm,
} from './fields';
export { MAX_EMOJI_BYTES, isReactionEmoji, isSendableEmoji } from './emoji';
export {
  DEFAULT_MIME, MAX_FILE_NAME_BYTES, PREVIEWABLE_IMAGE_TYPES, fileNameProblem, isPreviewableImage, mimeForFileName, mimeProblem, sendableFileName,
} from './fileName';
export { MAX_QUOTE_BYTES, makeQuote, quoteProblem } from './quote';
export { MAX_PATCH_PATH_BYTES, patchPathProblem, patchPaths } from './patchPaths';
export type { PatchPaths } from './patchPaths';
export type { AssemblyState, ChunkOutcome, FileToSend, FileTransferErrorCode } from './fileTransfer';
export { FileAssembly, FileTransferError, chunkCount, chunkLength, fileMessages } from './fileTransfer';
export type { RoomFileEvent, RoomFileLimits } from './roomFiles';
export { DEFAULT_ROOM_FILE_LIMITS, RoomFiles } from './roomFiles';
export type { EffectChange, EffectLimits, MessageView, ReactionView, TimelineMessage } from './effects';
export { DEFAULT_EFFECT_LIMITS, RoomEffects } from './effects';
export type { Member, MentionSpan } from './mentions';
export { MAX_MENTION_SCANS, findMentions, isMentioned, mentionHighlights, resolveMentions } from './mentions';
