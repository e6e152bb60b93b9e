"""The function Ray Tune runs for each trial, importable without TensorFlow.

The study driver only passes this function to Ray by reference, so it never
imports TensorFlow (about 4 s of a study's start-up on a 2-core machine);
each trial's worker imports it on the first trial it runs.
"""


def train_simclr(config, data=None):
    """Run `trainables.trainable.train_simclr` for one trial."""
    from trainables.trainable import train_simclr as run_trial

    run_trial(config, data)
