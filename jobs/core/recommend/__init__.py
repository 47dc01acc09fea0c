"""Recommendation rules: interactions, similarity models, lists, explanations, A/B, evaluation.

Every public function is a pure ``DataFrame -> DataFrame`` transform (or a small pure
Python helper); the jobs ``build_interactions``, ``train_recommenders``,
``generate_recommendations`` and ``evaluate_recommenders`` read and write the tables.
"""
