import random

from tagger.data.sampler import BucketBatchSampler


def padded_tokens(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) for b in batches)


def test_every_index_once_per_epoch_with_less_padding():
    rng = random.Random(0)
    lengths = [rng.randint(5, 400) for _ in range(1000)]
    sampler = BucketBatchSampler(lengths, batch_size=32, shuffle=True, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 32
    assert sorted(i for b in batches for i in b) == list(range(1000))
    plain = [list(range(i, min(i + 32, 1000))) for i in range(0, 1000, 32)]  # arrival order
    assert padded_tokens(batches, lengths) < 0.7 * padded_tokens(plain, lengths)


def test_order_is_seeded_and_changes_every_epoch():
    lengths = list(range(100))
    a, b = BucketBatchSampler(lengths, 10, True, seed=3), BucketBatchSampler(lengths, 10, True, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first


def test_without_shuffle_batches_follow_length():
    lengths = [5, 1, 4, 2, 3]
    assert list(BucketBatchSampler(lengths, 2, shuffle=False)) == [[1, 3], [4, 2], [0]]
