export * from './placement.js';
export * from './flow-control.js';
export * from './recipe.js';
export * from './module-costs.js';
export type * from './messages.js';
export { PipelineStage } from './stage.js';
export type { StageLinks } from './stage.js';
export type { WireCotangent } from './cotangent-exchange.js';
export * from './pipelined-trainer.js';
