"""Synthetic raw logs that follow the raw-log contract, with ground truth.

``world`` draws campaigns and their true parameters; ``simulate`` plays users
through the funnel, activity and a buy-till-you-die purchase process day by
day; ``render`` writes contract-exact files; ``defects`` injects every kind of
bad input and records it in a manifest; ``truth`` writes what really happened.
"""
