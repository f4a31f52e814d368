"""The Rainbow update: C51 projection, n-step double-DQN targets, priorities, noise and target copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spirl.config import AgentSettings, LearnerSettings
from spirl.rl.learner import RainbowLearner, project_distribution
from spirl.rl.networks import build_network
from spirl.rl.replay import ReplayBatch

AGENT = AgentSettings(hidden_size=16, proj_dim=8, attention_heads=2, attention_mlp=16)


def _learner(seed: int = 0, **kw) -> RainbowLearner:
    torch.manual_seed(seed)
    net = build_network(AGENT, 3, frame_shape=(5, 6))
    return RainbowLearner(net, LearnerSettings(**kw), "cpu", seed=seed)


def _batch(B: int = 8, seed: int = 0, done=None) -> ReplayBatch:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(B, 4, 5, 6)).astype(np.float32)
    nxt = rng.normal(size=(B, 4, 5, 6)).astype(np.float32)
    done = rng.random(B) < 0.3 if done is None else np.asarray(done)
    k = np.full((B, 4), 5, dtype=np.int64)
    return ReplayBatch(np.arange(B), obs, rng.integers(0, 3, B), rng.normal(size=B).astype(np.float32), nxt,
                       done, np.ones(B, dtype=np.float32), k, k)


def test_projection_hand_computed():
    support = torch.tensor([-1.0, 0.0, 1.0])
    probs = torch.tensor([[0.2, 0.5, 0.3], [0.2, 0.5, 0.3], [0.2, 0.5, 0.3], [0.2, 0.5, 0.3]])
    ret = torch.tensor([0.5, 0.5, 5.0, -0.25])
    disc = torch.tensor([0.5, 0.0, 0.5, 1.0])
    m = project_distribution(probs, ret, disc, support)
    # row 0: Tz = [0, 0.5, 1] -> atom 1 gets 0.2 + 0.25, atom 2 gets 0.25 + 0.3
    assert torch.allclose(m[0], torch.tensor([0.0, 0.45, 0.55]))
    # row 1: no bootstrap, all mass at 0.5, split evenly between atoms 0 and 1
    assert torch.allclose(m[1], torch.tensor([0.0, 0.5, 0.5]))
    # row 2: clipped at v_max
    assert torch.allclose(m[2], torch.tensor([0.0, 0.0, 1.0]))
    # row 3: Tz = [-1.25 -> -1, -0.25, 0.75] -> [0.2 + 0.125, 0.375 + 0.075, 0.225]
    assert torch.allclose(m[3], torch.tensor([0.325, 0.45, 0.225]))


def test_projection_on_the_c51_support_preserves_mass_and_mean():
    support = torch.linspace(-10, 10, 51)
    probs = torch.softmax(torch.randn(16, 51, generator=torch.Generator().manual_seed(0)), -1)
    ret = torch.linspace(-1.5, 1.5, 16)
    m = project_distribution(probs, ret, torch.full((16,), 0.99**20), support)
    assert torch.allclose(m.sum(-1), torch.ones(16), atol=1e-5)
    # no atom leaves the support here, so the projection keeps the mean exactly
    expected_mean = ret + 0.99**20 * (probs * support).sum(-1)
    assert torch.allclose((m * support).sum(-1), expected_mean, atol=1e-4)


def test_target_uses_online_argmax_target_probs_and_n_step_discount():
    learner = _learner(n_step=3, gamma=0.9)
    # make the target net disagree with the online net
    with torch.no_grad():
        for p in learner.target.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    b = _batch(done=[False, True, False, False, True, False, False, False])
    nxt, nk = torch.as_tensor(b.next_obs), torch.as_tensor(b.next_k)
    got = learner.target_distribution(nxt, nk, torch.as_tensor(b.ret), torch.as_tensor(b.done))
    with torch.no_grad():
        a_star = learner.online.q_values(nxt, nk).argmax(-1)
        p_next = learner.target(nxt, nk).softmax(-1)[torch.arange(8), a_star]
        disc = torch.tensor([0.0 if d else 0.9**3 for d in b.done])
        expected = project_distribution(p_next, torch.as_tensor(b.ret), disc, learner.online.support)
        assert not torch.equal(a_star, learner.target.q_values(nxt, nk).argmax(-1))  # the test has teeth
    assert torch.allclose(got, expected)
    # a done transition's target is the return alone: independent of the next state
    other = torch.as_tensor(_batch(seed=5).next_obs)
    got2 = learner.target_distribution(other, nk, torch.as_tensor(b.ret), torch.as_tensor(b.done))
    assert torch.allclose(got[1], got2[1]) and torch.allclose(got[4], got2[4])
    assert not torch.allclose(got[0], got2[0])


def test_single_dqn_setting_uses_the_target_argmax():
    learner = _learner(double_dqn=False)
    with torch.no_grad():
        for p in learner.target.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    b = _batch()
    nxt, nk = torch.as_tensor(b.next_obs), torch.as_tensor(b.next_k)
    done = torch.zeros(8, dtype=torch.bool)
    got = learner.target_distribution(nxt, nk, torch.as_tensor(b.ret), done)
    with torch.no_grad():
        probs = learner.target(nxt, nk).softmax(-1)
        a_star = (probs * learner.online.support).sum(-1).argmax(-1)
        expected = project_distribution(probs[torch.arange(8), a_star], torch.as_tensor(b.ret),
                                        torch.full((8,), 0.99**20), learner.online.support)
    assert torch.allclose(got, expected)


def test_update_loss_priorities_and_weights():
    learner = _learner()
    b = _batch()
    result = learner.update(b)
    assert np.isfinite(result.loss) and result.priorities.shape == (8,)
    assert (result.priorities >= 1e-6).all() and (result.priorities <= 1e6).all()
    # repeated updates on one batch reduce its loss
    losses = [learner.update(b).loss for _ in range(30)]
    assert losses[-1] < losses[0]
    # importance weights scale the loss: zero weights give zero loss and (fresh Adam) no parameter change
    learner = _learner()
    zero = b._replace(weight=np.zeros(8, dtype=np.float32))
    before = [p.detach().clone() for p in learner.online.parameters()]
    assert learner.update(zero).loss == 0.0
    assert all(torch.equal(a, p) for a, p in zip(before, learner.online.parameters()))


def test_priority_is_the_clamped_kl_of_the_update_batch():
    learner = _learner()
    b = _batch()
    gen_state = learner.noise_generator.get_state()
    result = learner.update(b)
    # replay the same update by hand on a copy made before it
    ref = _learner()
    ref.noise_generator.set_state(gen_state)
    ref.online.sample_noise(ref.noise_generator)
    obs, k = torch.as_tensor(b.obs), torch.as_tensor(b.k)
    target = ref.target_distribution(torch.as_tensor(b.next_obs), torch.as_tensor(b.next_k), torch.as_tensor(b.ret),
                                     torch.as_tensor(b.done))
    with torch.no_grad():
        p = ref.online(obs, k).softmax(-1)[torch.arange(8), torch.as_tensor(b.action)].clamp(1e-6, 1)
        t = target.clamp(1e-6, 1)
        kl = (t * (t.log() - p.log())).sum(-1).clamp(1e-6, 1e6)
    np.testing.assert_allclose(result.priorities, kl.numpy(), rtol=1e-5)


@pytest.mark.parametrize("log_probs", ["log_softmax", "clamped"])
def test_loss_uses_the_chosen_log_probabilities(log_probs):
    learner = _learner(log_probs=log_probs)
    b = _batch()
    gen_state = learner.noise_generator.get_state()
    result = learner.update(b)
    ref = _learner(log_probs=log_probs)
    ref.noise_generator.set_state(gen_state)
    ref.online.sample_noise(ref.noise_generator)
    target = ref.target_distribution(torch.as_tensor(b.next_obs), torch.as_tensor(b.next_k), torch.as_tensor(b.ret),
                                     torch.as_tensor(b.done))
    with torch.no_grad():
        logits = ref.online(torch.as_tensor(b.obs), torch.as_tensor(b.k))[torch.arange(8), torch.as_tensor(b.action)]
        log_p = logits.log_softmax(-1) if log_probs == "log_softmax" else logits.softmax(-1).clamp(1e-6, 1).log()
        expected = -(target * log_p).sum(-1).mean()
    assert result.loss == pytest.approx(float(expected), rel=1e-5)


def test_log_softmax_gives_atoms_below_1e6_a_gradient_and_clamping_does_not():
    logits = torch.tensor([[30.0, 0.0, 0.0]], requires_grad=True)  # atoms 1 and 2 have p ~ 1e-13
    target = torch.tensor([[0.0, 0.5, 0.5]])
    (-(target * logits.log_softmax(-1)).sum()).backward()
    assert logits.grad[0, 1] < 0  # pushed up
    logits.grad = None
    (-(target * logits.softmax(-1).clamp(1e-6, 1).log()).sum()).backward()
    assert torch.count_nonzero(logits.grad) == 0  # below the clamp: no gradient at all
    assert LearnerSettings().log_probs == "log_softmax"  # the released code's choice is the default
    with pytest.raises(ValueError, match=r"learner\.log_probs"):
        _learner(log_probs="log")


def test_evaluation_noise_off_is_deterministic_and_acting_follows_the_latest_noise():
    learner = _learner()
    obs, k = _batch().obs, _batch().k
    greedy = learner.act_greedy(obs, k)
    q_noisy = learner.online.q_values(torch.as_tensor(obs), torch.as_tensor(k))
    learner.online.sample_noise(learner.noise_generator)
    q_noisy2 = learner.online.q_values(torch.as_tensor(obs), torch.as_tensor(k))
    assert not torch.allclose(q_noisy, q_noisy2)  # acting noise changes with each resample
    assert np.array_equal(learner.act(obs, k), q_noisy2.argmax(-1).numpy())
    for _ in range(3):
        learner.online.sample_noise(learner.noise_generator)
        assert np.array_equal(learner.act_greedy(obs, k), greedy)  # mean weights ignore the noise


def test_target_copy_cadence_and_noise_resampled_once_per_update():
    learner = _learner(target_update_period=3)
    b = _batch()

    def same() -> bool:
        return all(torch.equal(a, t) for a, t in zip(learner.online.state_dict().values(),
                                                     learner.target.state_dict().values()))

    assert same()
    eps_before = learner.online.head.value_hidden.weight_epsilon.clone()
    target_eps = learner.target.head.value_hidden.weight_epsilon.clone()
    synced = [learner.update(b).target_synced for _ in range(7)]
    assert synced == [False, False, True, False, False, True, False]
    assert not same()
    assert not torch.equal(eps_before, learner.online.head.value_hidden.weight_epsilon)
    # the target keeps the noise sample of the last copy (update 6), not the online's newest
    assert not torch.equal(target_eps, learner.target.head.value_hidden.weight_epsilon)
    assert not torch.equal(learner.target.head.value_hidden.weight_epsilon,
                           learner.online.head.value_hidden.weight_epsilon)
    learner.update(b), learner.update(b)
    assert learner.updates == 9 and same()


def test_state_dict_round_trip_continues_bit_identically():
    a = _learner(seed=3)
    for i in range(3):
        a.update(_batch(seed=i))
    state = a.state_dict()
    b = _learner(seed=99)
    b.load_state_dict(state)
    for i in range(3, 6):
        ra, rb = a.update(_batch(seed=i)), b.update(_batch(seed=i))
        assert ra.loss == rb.loss and np.array_equal(ra.priorities, rb.priorities)
    assert all(torch.equal(x, y) for x, y in zip(a.online.parameters(), b.online.parameters()))
    assert b.updates == 6


@pytest.mark.parametrize("encoder", ["de_cnn", "spirl"])
def test_one_update_on_each_encoder(encoder):
    torch.manual_seed(0)
    if encoder == "de_cnn":
        net = build_network(AgentSettings(encoder="de_cnn", hidden_size=16), 4, frame_shape=(84, 84, 1))
        obs = np.random.default_rng(0).integers(0, 255, (4, 4, 84, 84, 1), dtype=np.uint8)
        k = None
    else:
        net = build_network(AgentSettings(padding="mask"), 4, frame_shape=(43, 64))
        obs = np.random.default_rng(0).normal(size=(4, 4, 43, 64)).astype(np.float32)
        k = np.full((4, 4), 20)
    learner = RainbowLearner(net, LearnerSettings(), "cpu")
    b = ReplayBatch(np.arange(4), obs, np.array([0, 1, 2, 3]), np.zeros(4, np.float32), obs,
                    np.zeros(4, bool), np.ones(4, np.float32), k, k)
    assert np.isfinite(learner.update(b).loss)
