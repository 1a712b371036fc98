"""Training: the engine, attention inside packed documents, pretraining, DPO, the models."""

# A training's settings that change how it runs, not what it computes: how often it saves its state, where it
# reports, and whether torch.compile or which attention kernel computes the same model. The workflow re-runs
# nothing for a change to one of them (a day's training is not redone for a checkpoint interval), and a
# killed training resumes its checkpoint across such a change.
HOW_NOT_WHAT = ("checkpoint_every_minutes", "report_to", "compile", "attention", "fused_loss")


def what_it_computes(settings: dict) -> dict:
    """A training's settings less HOW_NOT_WHAT."""
    return {key: value for key, value in settings.items() if key not in HOW_NOT_WHAT}
