"""Builds the optional compiled probe kernel of the match index (moderation/matching/_probe.c).

Everything else about the package is in pyproject.toml. The extension is optional: without a C compiler
the install still succeeds and the index uses its numpy path, which returns identical results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "moderation.matching._probe",
            sources=["moderation/matching/_probe.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
