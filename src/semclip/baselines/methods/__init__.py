"""The baseline methods, one per file; each registers itself on
``semclip.baselines.common.BASELINES`` (the registry imports them on first use)."""
