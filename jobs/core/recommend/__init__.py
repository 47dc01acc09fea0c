"""Recommendation rules: interactions, similarity models, lists, explanations, A/B, evaluation.

The rules (``interactions``, ``similarity``, ``lists``, ``generate``, ``explanations``,
``ab``, ``evaluation``, ``offline``, ``catalog``) are pure ``DataFrame -> DataFrame``
transforms (or small pure Python helpers). The steps read and write the tables through a
Delta engine, one module each: ``build`` (``jobs.build_interactions``), ``training``
(``jobs.train_recommenders``), ``generation`` (``jobs.generate_recommendations``) and
``performance`` (``jobs.evaluate_recommenders``); ``queries`` answers the
``python -m jobs.query`` sub-commands home, more-like-this and ab-report.
"""
