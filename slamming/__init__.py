"""The library of the Slamming workflow: what the stages (``workflow_scripts``) are made of.

Data: ``sources`` (external models and data, pinned), ``audio`` (reading, checks, resampling),
``manifests``, ``corpora`` (LibriSpeech, Libri-Light, hub Parquet), ``texts`` and ``demo_text``,
``tts`` and ``synthesis``, ``vad``, ``stats``, ``artifacts`` (reading our own files safely).
Units: ``encoder``, ``kmeans``, ``extraction``, ``units`` (the speech vocabulary), ``packing``.
Models and training: ``speech_lm`` (TWIST initialisation), ``text_lm``, ``engine`` (the one budgeted
training loop), ``pretraining`` and ``dpo`` (what is theirs of it), ``vocoder`` and ``vocoder_training``.
Evaluation: ``benchmarks`` (likelihood benchmarks), ``generation``, ``asr``, ``genppl``, ``autobleu``,
``judge``, ``reporting`` (metrics.json, tables, curves). Around them: ``config`` (loading and
checking the configuration), ``logs``, ``allocation``.
"""
