"""Training learns: the real offline whisper-base, through the train stage's own trainer, lowers
its loss on a handful of embedded clips within a few optimizer steps (conftest.taught_whisper_base).
Every other training test uses the tiny random model, which would not notice a trainer that
stopped learning."""


def test_a_few_steps_of_whisper_base_lower_the_loss_on_their_clips(taught_whisper_base):
    taught = taught_whisper_base
    assert taught.steps == 5
    assert taught.loss_after <= 0.7 * taught.loss_before, \
        f"loss {taught.loss_before:.3f} → {taught.loss_after:.3f}: training did not learn"
