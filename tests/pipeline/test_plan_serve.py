"""`plan qwen3-8b-vl`: seed 000's deploy command with ms-swift 4.x names, and the EvalScope config for MMMU."""
import json
from pathlib import Path

from swiftplus.core.tools import fields_for
from tests.helpers import REPO
from tests.helpers import run_cli as cli


def test_plan_shows_seed_000_deploy_and_mmmu_config():
    r = cli("plan", "qwen3-8b-vl", "--stage", "deploy", "--stage", "eval", "--json", cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    deploy, evaluation = json.loads(r.stdout)
    argv = deploy["argv"]
    assert Path(argv[0]).name == "swift" and argv[1] == "deploy"
    flags = dict(zip([a[2:] for a in argv[2::2]], argv[3::2]))
    assert flags["model"] == "<stage2: final checkpoint>"
    expected = {"infer_backend": "vllm", "vllm_gpu_memory_utilization": "0.9", "vllm_max_model_len": "8192",
                "max_new_tokens": "2048", "served_model_name": "Qwen3-VL", "model_type": "qwen2_5_vl",
                "host": "127.0.0.1", "port": "8000"}
    assert {k: flags[k] for k in expected} == expected
    assert json.loads(flags["vllm_limit_mm_per_prompt"]) == {"image": 5, "video": 2}
    assert set(flags) <= set(fields_for("deploy")), "every flag must be one the installed swift deploy accepts"
    assert {k: deploy["env"][k] for k in ("MAX_PIXELS", "VIDEO_MAX_PIXELS", "FPS_MAX_FRAMES")} == \
        {"MAX_PIXELS": "1003520", "VIDEO_MAX_PIXELS": "50176", "FPS_MAX_FRAMES": "12"}

    (config,) = evaluation["detail"]
    from evalscope.config import TaskConfig

    parsed = TaskConfig.from_dict(config)
    assert parsed.datasets == ["mmmu"] and parsed.eval_type == "openai_api" and parsed.model == "Qwen3-VL"
    assert parsed.api_url == "http://127.0.0.1:8000/v1"
    assert parsed.generation_config.temperature == 0.6 and parsed.generation_config.max_tokens == 512


def test_plan_never_prints_the_api_key(monkeypatch):
    r = cli("plan", "qwen3-smvl", "--stage", "deploy", "--stage", "eval", "--set", "deploy.api_key=s3cret", cwd=REPO,
            timeout=120)
    assert r.returncode == 0, r.stderr
    assert "s3cret" not in r.stdout and "SWIFTPLUS_API_KEY='***'" in r.stdout and "swiftplus.serve.keyed" in r.stdout
    assert "<SWIFTPLUS_API_KEY>" in r.stdout  # EvalScope's config takes it from the environment
    r = cli("plan", "qwen3-smvl", "--stage", "deploy", "--json", "--set", "deploy.api_key=s3cret", cwd=REPO, timeout=120)
    assert r.returncode == 0 and "s3cret" not in r.stdout
    assert json.loads(r.stdout)[0]["env"]["SWIFTPLUS_API_KEY"] == "***"
