"""Hugging Face Space entry point: the same app as `fusionrs space`.

Configure it with Space variables (Settings -> Variables): FUSIONRS_SPACE_TRANSLATOR (e.g.
`fusionrs:ORG/fusionrs-translator`), FUSIONRS_SPACE_CLIP, FUSIONRS_SPACE_VLM (folders or hub repo ids),
FUSIONRS_SPACE_DATA; unset, the Space runs the packaged default translator on the embedded world dataset.
Deploy this folder with `fusionrs push space spaces/fusionrs --repo ORG/NAME` (it uploads and pins the wheel).
"""

try:
    from fusionrs.space import SpaceConfig, build_demo
except ModuleNotFoundError as error:
    if error.name != "fusionrs":
        raise
    raise SystemExit("fusionrs is not installed in this Space: deploy the folder with `fusionrs push space "
                     "spaces/fusionrs --repo ORG/NAME`, which uploads fusionrs's wheel and pins it in "
                     "requirements.txt") from None

config = SpaceConfig.from_env()
demo = build_demo(config)

if __name__ == "__main__":
    # Bounded concurrency: the models are shared through one cache and a free Space has 2 vCPUs.
    demo.queue(default_concurrency_limit=config.concurrency, max_size=64).launch(max_file_size=2 * config.max_bytes)
