"""The attribution audit as one HTML report: the top layer, which calls the public API.

``run_audit`` explains the embedded simulated dataset, any MOABB dataset, or your own
trials (with your model, or a ShallowFBCSPNet trained here with stratified
cross-validation), and writes an ``mne.Report`` with every figure, the tables behind them,
and verdicts gated on the model's held-out accuracy.
"""
from ._audit import OUTPUTS, AuditResult, run_audit  # noqa: F401
from ._group import GROUP_OUTPUTS, GroupRunResult, run_group  # noqa: F401
from ._steps import AUDIT_METHOD_PARAMS, BATCH, DEFAULT_METHODS  # noqa: F401

DATASETS = ("simulated", "BNCI2014_001", "PhysionetMI")  # the ones with offline defaults
