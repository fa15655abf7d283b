"""Revenue recovery (issue 16): the catalog's recovery data and the pure computations on it
that workflows and activities share (retry plans, dunning e-mails). No I/O, no Temporal."""
