export type { AnalysisPhase, AnalysisResult, GateContext, GateRunner, Measurement } from './analysis.js';
export { analysisDurationMs, defaultGateRunner, runAnalysis } from './analysis.js';
export type { BudgetLimits, DisruptionBudgetOptions } from './budget.js';
export { DEFAULT_BUDGET, DisruptionBudget } from './budget.js';
export type { Clock } from './clock.js';
export { RealClock, VirtualClock } from './clock.js';
export type { ControlAction, ControlRolloutOptions, RolloutStatusReport } from './control.js';
export { controlRollout, rolloutSpecOf, rolloutStatus } from './control.js';
export type { DurationInput } from './duration.js';
export { formatDuration, parseDuration } from './duration.js';
export type {
  FleetExtensions,
  MemberEvent,
  PreflightProblem,
  RolloutResult,
  RolloutStatus,
  RunRolloutOptions,
  StageReport,
  TimelineEvent,
  VerifyImage,
} from './engine.js';
export { preflightRollout, resumeRollout, startRollout } from './engine.js';
export { FileFleet } from './file-fleet.js';
export type { JournalView, StartEntry } from './journal.js';
export { foldJournal } from './journal.js';
export type { PlannedStage, PlanRolloutOptions, RolloutPlan, SimFleetDescription } from './plan.js';
export { membersOf, parseFleetDescription, planRollout } from './plan.js';
export type { Quantity } from './quantity.js';
export { resolveQuantity } from './quantity.js';
export { Window, WindowSet } from './schedule.js';
export type {
  BudgetSpec,
  CanaryStepSpec,
  GateSpec,
  RolloutSpec,
  ScheduleSpec,
  StrategySpec,
} from './schema.js';
export { rolloutJsonSchema, rolloutSpecSchema } from './schema.js';
export type { DisruptionRecord, SimFault, SimMemberSpec, SimulatedFleetOptions } from './sim.js';
export { ControllerCrash, CrashInjector, SimulatedFleet, simulatedGateRunner } from './sim.js';
export type { ParsedRolloutSpec, ParseRolloutSpecOptions, SpecProblem } from './spec.js';
export { imageChannelOf, imageRefOf, loadRolloutSpec, parseRolloutSpec, withImage } from './spec.js';
export type { JournalEntry } from './store.js';
export { FileStateStore, MemoryStateStore } from './store.js';
export type { CompiledStrategy, PlanMember, Stage } from './strategy.js';
export { compileStrategy, seededEligibility, seedOf } from './strategy.js';
