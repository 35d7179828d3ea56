export * from './plugin.js';
export * from './trainer.js';
export * from './optimizer.js';
export * from './schedules.js';
export * from './losses.js';
export * from './heads.js';
