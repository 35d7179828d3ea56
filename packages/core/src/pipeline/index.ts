export * from './placement.js';
export * from './flow-control.js';
export * from './recipe.js';
export * from './module-costs.js';
export type * from './messages.js';
export { PipelineStage, variablesOfRange } from './stage.js';
export * from './pipelined-trainer.js';
