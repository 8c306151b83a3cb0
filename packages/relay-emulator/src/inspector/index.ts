/** The inspector's one door: what the emulator and the package export of it. */
export { Inspector } from './inspector';
export type { InspectorSources } from './inspector';
export { answerInspector, isInspectorRequest } from './api';
export { resolveInspectorOptions } from './options';
export type { InspectorOptions, ResolvedInspectorOptions } from './options';
export type { HttpRequestRecord, BodyView, RequestOutcome } from './http-record';
export type { ConnectionRecord, DirectionView, MessageView } from './connections';
export type { ListenerEvent } from './listener-history';
export type { Har, HarEntry } from './har';
export { REPLAY_HEADER } from './replay';
export type { ReplayRoute } from './replay';
