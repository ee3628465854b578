"""The main job (``semclip demo``) as typed stages: encode, codecs, sweeps, prompts,
baselines, views, retrieval; each takes its own settings (``semclip.job.config``) and typed
inputs and returns a typed result. ``semclip.app.demo.run_demo`` runs them in order and
writes the report; benchmarks call the stages they need."""
