"""spirl.utils: the CUDA determinism switch (the rest of utils is exercised by the modules that use it)."""

from spirl.utils import CUBLAS_WORKSPACE_CONFIG, cuda_determinism_env


def test_cublas_workspace_is_set_for_cuda_runs_unless_the_user_chose_one():
    env: dict[str, str] = {}
    cuda_determinism_env(env)
    assert env == {"CUBLAS_WORKSPACE_CONFIG": CUBLAS_WORKSPACE_CONFIG} and CUBLAS_WORKSPACE_CONFIG in (":4096:8",
                                                                                                        ":16:8")
    mine = {"CUBLAS_WORKSPACE_CONFIG": ":16:8"}
    cuda_determinism_env(mine)
    assert mine == {"CUBLAS_WORKSPACE_CONFIG": ":16:8"}
