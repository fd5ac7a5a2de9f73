"""The report-kind classifier: train on the labelled reports, evaluate per kind on a later
period against the keyword baseline, register in MLflow behind a gate
(``python -m training.feedback``)."""
