"""Training: the engine, attention inside packed documents, pretraining, DPO, the models."""
