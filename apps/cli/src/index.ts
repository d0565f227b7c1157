import Build from './commands/build.js';
import ChannelPromote from './commands/channel/promote.js';
import Doctor from './commands/doctor.js';
import FleetInit from './commands/fleet/init.js';
import FleetLs from './commands/fleet/ls.js';
import ImageDiff from './commands/image/diff.js';
import ImageInspect from './commands/image/inspect.js';
import KeysGenerate from './commands/keys/generate.js';
import OciInspect from './commands/oci/inspect.js';
import OciPull from './commands/oci/pull.js';
import OciPush from './commands/oci/push.js';
import OciTree from './commands/oci/tree.js';
import Publish from './commands/publish.js';
import RecipeLock from './commands/recipe/lock.js';
import RecipeMatrix from './commands/recipe/matrix.js';
import RecipeSchema from './commands/recipe/schema.js';
import RecipeShow from './commands/recipe/show.js';
import RecipeValidate from './commands/recipe/validate.js';
import RepoAdd from './commands/repo/add.js';
import RepoInit from './commands/repo/init.js';
import RepoManifest from './commands/repo/manifest.js';
import RepoRefresh from './commands/repo/refresh.js';
import RepoRemove from './commands/repo/remove.js';
import RepoRotateRoot from './commands/repo/rotate-root.js';
import RepoVerify from './commands/repo/verify.js';
import RolloutAbort from './commands/rollout/abort.js';
import RolloutApprove from './commands/rollout/approve.js';
import RolloutPause from './commands/rollout/pause.js';
import RolloutPlan from './commands/rollout/plan.js';
import RolloutResume from './commands/rollout/resume.js';
import RolloutRollback from './commands/rollout/rollback.js';
import RolloutStart from './commands/rollout/start.js';
import RolloutStatus from './commands/rollout/status.js';
import Sign from './commands/sign.js';
import Verify from './commands/verify.js';
import VerityDump from './commands/verity/dump.js';
import VerityFormat from './commands/verity/format.js';
import VerityRepair from './commands/verity/repair.js';
import VeritySign from './commands/verity/sign.js';
import VerityTable from './commands/verity/table.js';
import VerityVerify from './commands/verity/verify.js';
import VerityVerifySignature from './commands/verity/verify-signature.js';

export { commandNotFound, main } from './main.js';

/** Every command, by id (topic and verb joined with ':'); oclif's explicit strategy reads this map. */
export const COMMANDS = {
  build: Build,
  'channel:promote': ChannelPromote,
  doctor: Doctor,
  'fleet:init': FleetInit,
  'fleet:ls': FleetLs,
  'image:diff': ImageDiff,
  'image:inspect': ImageInspect,
  publish: Publish,
  'keys:generate': KeysGenerate,
  'repo:add': RepoAdd,
  'repo:init': RepoInit,
  'repo:manifest': RepoManifest,
  'repo:refresh': RepoRefresh,
  'repo:remove': RepoRemove,
  'repo:rotate-root': RepoRotateRoot,
  'repo:verify': RepoVerify,
  'rollout:abort': RolloutAbort,
  'rollout:approve': RolloutApprove,
  'rollout:pause': RolloutPause,
  'rollout:plan': RolloutPlan,
  'rollout:resume': RolloutResume,
  'rollout:rollback': RolloutRollback,
  'rollout:start': RolloutStart,
  'rollout:status': RolloutStatus,
  sign: Sign,
  verify: Verify,
  'oci:inspect': OciInspect,
  'oci:pull': OciPull,
  'oci:push': OciPush,
  'oci:tree': OciTree,
  'recipe:lock': RecipeLock,
  'recipe:matrix': RecipeMatrix,
  'recipe:schema': RecipeSchema,
  'recipe:show': RecipeShow,
  'recipe:validate': RecipeValidate,
  'verity:dump': VerityDump,
  'verity:format': VerityFormat,
  'verity:repair': VerityRepair,
  'verity:sign': VeritySign,
  'verity:table': VerityTable,
  'verity:verify': VerityVerify,
  'verity:verify-signature': VerityVerifySignature,
};
