"""The one adapter to so-vits-svc-fork (4.2.30): its commands, ContentVec, f0, config, conversion.

=================  ==========================================================================
module             what it owns
=================  ==========================================================================
install            the installed package: folder, version, config templates
f0                 pitch trackers: supported, available here, what ``auto`` picks
contentvec         ContentVec: where it is cached, why it is missing, loading it once
overrides          environment and config edits every run of a workspace gets
commands           ``svc`` commands as argument lists, run in the workspace (subprocesses)
preprocess         dataset checks, config edits, pre-resample/pre-config/pre-hubert
model_config       the config a checkpoint was trained with, its speakers and architecture
conversion         :class:`Conversion`: every choice that decides a conversion's sound
features           content features and f0, cut at pauses as ``svc infer`` cuts
generator          a checkpoint's generator, loaded strictly, and decoding
converter          :class:`SvcConverter`: the engine renders and covers convert through
=================  ==========================================================================

Training and preprocessing run so-vits-svc-fork's own commands in subprocesses; conversion runs
in the calling process (torch is imported only then), so ContentVec and the features are shared
across checkpoints. Callers use the names below (``from svcqa.engines import svc``).

Example
-------
>>> describe(pre_hubert_argv("parselmouth"))
'svc pre-hubert -i dataset/44k -c configs/44k/config.json -fm parselmouth -n 1'
"""

from svcqa.engines.svc.commands import (
    describe,
    infer_argv,
    pre_config_argv,
    pre_hubert_argv,
    pre_resample_argv,
    run_svc,
    subprocess_env,
    svc_argv,
    svc_env,
    train_argv,
)
from svcqa.engines.svc.contentvec import (
    CONTENTVEC_CACHE_FOLDER,
    CONTENTVEC_REPO_ID,
    contentvec_missing_message,
    find_contentvec,
    hub_cache_dir,
    is_offline,
    require_contentvec,
)
from svcqa.engines.svc.conversion import (
    Conversion,
    contentvec_id,
    describe_conversion,
    resolve_conversion,
    slicing_kwargs,
)
from svcqa.engines.svc.converter import SvcConverter, quiet_svc_logging, resolve_device
from svcqa.engines.svc.f0 import (
    CPU_F0_METHOD,
    F0_METHODS_BY_ACCURACY,
    available_f0_methods,
    resolve_f0_method,
    supported_f0_methods,
)
from svcqa.engines.svc.features import FeatureChunk, Features
from svcqa.engines.svc.generator import CheckpointLoadError
from svcqa.engines.svc.install import CONFIG_TEMPLATE, config_template_path, package_dir
from svcqa.engines.svc.model_config import (
    ModelConfig,
    ModelConfigError,
    model_config_path,
    model_speakers,
    read_model_config,
    resolve_speaker,
)
from svcqa.engines.svc.overrides import (
    set_workspace_overrides,
    workspace_config_edits,
    workspace_env,
    workspace_overrides_path,
)
from svcqa.engines.svc.preprocess import (
    MIN_CLIPS_PER_SPEAKER,
    PreprocessReport,
    check_dataset_raw,
    config_edits,
    edit_config,
    preprocess,
)

__all__ = [
    "CONFIG_TEMPLATE",
    "CONTENTVEC_CACHE_FOLDER",
    "CONTENTVEC_REPO_ID",
    "CPU_F0_METHOD",
    "F0_METHODS_BY_ACCURACY",
    "MIN_CLIPS_PER_SPEAKER",
    "CheckpointLoadError",
    "Conversion",
    "FeatureChunk",
    "Features",
    "ModelConfig",
    "ModelConfigError",
    "PreprocessReport",
    "SvcConverter",
    "available_f0_methods",
    "check_dataset_raw",
    "config_edits",
    "config_template_path",
    "contentvec_id",
    "contentvec_missing_message",
    "describe",
    "describe_conversion",
    "edit_config",
    "find_contentvec",
    "hub_cache_dir",
    "infer_argv",
    "is_offline",
    "model_config_path",
    "model_speakers",
    "package_dir",
    "pre_config_argv",
    "pre_hubert_argv",
    "pre_resample_argv",
    "preprocess",
    "quiet_svc_logging",
    "read_model_config",
    "require_contentvec",
    "resolve_conversion",
    "resolve_device",
    "resolve_f0_method",
    "resolve_speaker",
    "run_svc",
    "set_workspace_overrides",
    "slicing_kwargs",
    "subprocess_env",
    "supported_f0_methods",
    "svc_argv",
    "svc_env",
    "train_argv",
    "workspace_config_edits",
    "workspace_env",
    "workspace_overrides_path",
]
