"""The sections every run report gets, rendered from the files of the run directory (they
never restore a network): :mod:`.common` (summary and hyper-parameters, training curves, sample
grids over training, configuration) and :mod:`.evaluation` (the records of ``eval.json`` with
their protocols, and the evaluations over checkpoints). They are entries of
:data:`qagen.registry.REPORT_SECTIONS`, like the methods' sections."""
