"""The numpydoc checks every public docstring must pass: one list, read by the docs build
(``docs/conf.py``) and by ``tests/test_numpydoc.py``.

The set follows scikit-learn and SciPy: every public object has a docstring whose summary is one
capitalised line in the imperative; every parameter is documented, in signature order, with a
type and a capitalised description; a function that returns (or yields) something says what.
Not enforced: an extended summary (ES01), a See Also section (SA01) and Examples (EX01), which
not every small helper needs.
"""

#: numpydoc check codes (see ``numpydoc.validate.ERROR_MSGS``)
ENFORCED_CHECKS = frozenset({
    "GL07",  # sections in the wrong order
    "GL08",  # no docstring
    "SS02",  # summary does not start with a capital letter
    "SS05",  # summary starts with a third-person verb ("Returns ...")
    "SS06",  # summary longer than one line
    "PR01",  # a parameter not documented
    "PR02",  # a documented parameter that does not exist
    "PR03",  # parameters documented in the wrong order
    "PR04",  # a parameter without a type
    "PR07",  # a parameter without a description
    "PR08",  # a parameter description not capitalised
    "RT01",  # no Returns section although the function returns something
    "RT02",  # a single return value named
    "RT03",  # a return value without a description
    "RT04",  # a return description not capitalised
    "YD01",  # no Yields section in a generator
    "SA03",  # a See Also description not capitalised
})

#: The files whose objects may appear in :data:`ALLOWED_FAILURES`: other branches of the
#: project were editing them while the checks were introduced (session 3 of issue 15).
ALLOWED_FILES = frozenset({
    "noprune_theory/backend.py",
    "noprune_theory/estimators/_knn.py",
    "noprune_theory/models.py",
    "noprune_theory/training.py",
    "sims/_config.py",
    "sims/_runner.py",
    "sims/_store.py",
})

#: ``(object, check)`` pairs that fail today and are tolerated, because the object is defined in
#: one of :data:`ALLOWED_FILES`. ``tests/test_numpydoc.py`` fails for a listed pair that no
#: longer fails, so the list only shrinks; empty it (and then ``ALLOWED_FILES``) once those
#: files' docstrings are fixed. The docs build leaves the listed objects unchecked
#: (:func:`excluded_objects`).
ALLOWED_FAILURES = frozenset({
    # noprune_theory/backend.py (session 3: engine)
    ("noprune_theory.backend.Backend", "PR01"),
    ("noprune_theory.backend.Backend.kernel_module", "PR01"),
    ("noprune_theory.backend.Backend.kernel_module", "RT01"),
    ("noprune_theory.backend.array_namespace", "PR01"),
    ("noprune_theory.backend.array_namespace", "RT01"),
    ("noprune_theory.backend.backend_info", "RT01"),
    ("noprune_theory.backend.cuda_simulator_enabled", "RT01"),
    ("noprune_theory.backend.get_backend", "PR02"),
    ("noprune_theory.backend.get_backend", "PR04"),
    ("noprune_theory.backend.get_backend", "PR07"),
    ("noprune_theory.backend.get_backend", "RT01"),
    ("noprune_theory.backend.gpu_details", "RT01"),
    ("noprune_theory.backend.namespace_for", "PR01"),
    ("noprune_theory.backend.namespace_for", "RT01"),
    ("noprune_theory.backend.real_gpu_mode", "RT01"),
    ("noprune_theory.backend.to_numpy", "PR01"),
    ("noprune_theory.backend.to_numpy", "RT01"),
    # noprune_theory/estimators/_knn.py (session 3: engine)
    ("noprune_theory.estimators.conditional_mi", "PR03"),
    ("noprune_theory.estimators.conditional_mi", "PR04"),
    ("noprune_theory.estimators.conditional_mi", "RT03"),
    ("noprune_theory.estimators.knn_entropy", "PR04"),
    ("noprune_theory.estimators.knn_entropy", "RT03"),
    ("noprune_theory.estimators.ksg_mi_batch", "PR03"),
    ("noprune_theory.estimators.ksg_mi_batch", "PR04"),
    ("noprune_theory.estimators.mixed_mi", "PR03"),
    ("noprune_theory.estimators.mixed_mi", "PR04"),
    ("noprune_theory.estimators.mixed_mi", "PR07"),
    ("noprune_theory.estimators.mixed_mi", "RT03"),
    # noprune_theory/models.py (session 3: engine)
    ("noprune_theory.models.MaskedMLP", "PR03"),
    ("noprune_theory.models.MaskedMLP.accuracy", "PR01"),
    ("noprune_theory.models.MaskedMLP.accuracy", "RT01"),
    ("noprune_theory.models.MaskedMLP.config", "RT01"),
    ("noprune_theory.models.MaskedMLP.copy", "RT01"),
    ("noprune_theory.models.MaskedMLP.density", "RT01"),
    ("noprune_theory.models.MaskedMLP.forward", "RT02"),
    ("noprune_theory.models.MaskedMLP.forward", "RT03"),
    ("noprune_theory.models.MaskedMLP.forward", "SS05"),
    ("noprune_theory.models.MaskedMLP.gradients", "PR04"),
    ("noprune_theory.models.MaskedMLP.hvp", "PR03"),
    ("noprune_theory.models.MaskedMLP.hvp", "PR04"),
    ("noprune_theory.models.MaskedMLP.kept_count", "RT01"),
    ("noprune_theory.models.MaskedMLP.load", "PR07"),
    ("noprune_theory.models.MaskedMLP.loss", "PR01"),
    ("noprune_theory.models.MaskedMLP.loss", "RT01"),
    ("noprune_theory.models.MaskedMLP.param_count", "RT01"),
    ("noprune_theory.models.MaskedMLP.per_point_loss", "PR07"),
    ("noprune_theory.models.MaskedMLP.per_point_loss", "PR08"),
    ("noprune_theory.models.MaskedMLP.per_point_loss", "RT01"),
    ("noprune_theory.models.MaskedMLP.save", "PR01"),
    ("noprune_theory.models.MaskedMLP.save", "SS06"),
    ("noprune_theory.models.MaskedMLP.to_backend", "PR01"),
    ("noprune_theory.models.MaskedMLP.to_backend", "RT01"),
    ("noprune_theory.models.MaskedMLP.weight_count", "RT01"),
    ("noprune_theory.models.MaskedTwoLayer", "PR01"),
    # noprune_theory/training.py (session 3: engine)
    ("noprune_theory.training.TrainResult", "PR01"),
    ("noprune_theory.training.Trajectory", "PR01"),
    ("noprune_theory.training.train", "RT03"),
    # sims/_config.py (session 3: theorem)
    ("noprune_theory.sims.Field", "PR01"),
    ("noprune_theory.sims.Field.convert", "PR01"),
    ("noprune_theory.sims.Field.convert", "RT01"),
    ("noprune_theory.sims.Field.describe", "RT01"),
    ("noprune_theory.sims.Field.describe", "SS05"),
    ("noprune_theory.sims.Preset", "PR01"),
    ("noprune_theory.sims.RunConfig", "PR01"),
    ("noprune_theory.sims.RunConfig.cells", "YD01"),
    ("noprune_theory.sims.RunConfig.identity", "RT01"),
    ("noprune_theory.sims.RunConfig.n_points", "GL08"),
    ("noprune_theory.sims.RunConfig.points", "YD01"),
    ("noprune_theory.sims.RunConfig.to_dict", "RT01"),
    ("noprune_theory.sims.preset", "PR01"),
    ("noprune_theory.sims.preset", "RT01"),
    ("noprune_theory.sims.resolve_config", "RT03"),
    # sims/_runner.py (session 3: theorem)
    ("noprune_theory.sims.RunSummary", "PR01"),
    ("noprune_theory.sims.format_duration", "PR01"),
    ("noprune_theory.sims.format_duration", "RT01"),
    ("noprune_theory.sims.run_simulation", "RT03"),
    # sims/_store.py (session 3: theorem)
    ("noprune_theory.sims.ResultStore", "PR01"),
    ("noprune_theory.sims.ResultStore.check_config", "PR01"),
    ("noprune_theory.sims.ResultStore.check_config", "RT01"),
    ("noprune_theory.sims.ResultStore.done_keys", "RT01"),
    ("noprune_theory.sims.ResultStore.done_keys", "SS05"),
    ("noprune_theory.sims.ResultStore.open", "PR01"),
    ("noprune_theory.sims.ResultStore.path_of", "GL08"),
    ("noprune_theory.sims.ResultStore.stored_keys", "RT01"),
    ("noprune_theory.sims.ResultStore.stored_keys", "SS05"),
    ("noprune_theory.sims.ResultStore.write", "PR01"),
    ("noprune_theory.sims.load_results", "SA03"),
    ("noprune_theory.sims.read_config", "PR01"),
    ("noprune_theory.sims.result_folders", "PR01"),
    ("noprune_theory.sims.result_folders", "RT01"),
    ("noprune_theory.sims.save_table", "GL07"),
    ("noprune_theory.sims.save_table", "RT03"),
})


def excluded_objects():
    """Return the regular expressions of ``numpydoc_validation_exclude`` for the docs build.

    Returns
    -------
    set of str
        One anchored pattern per object of :data:`ALLOWED_FAILURES`.
    """
    import re
    return {f"^{re.escape(name)}$" for name, _ in ALLOWED_FAILURES}
