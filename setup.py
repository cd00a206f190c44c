"""Which packages the wheel holds. Metadata is in pyproject.toml.

The mappings are data (``mappings/`` in the repository); they ship in the wheel as the package
``leadsync_mappings``, so an installed leadsync finds its defaults. The sandbox ships as its own
package, ``leadsync_sandbox``; its dependencies come with the ``sandbox`` extra only.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["connector", "connector.*", "jobs", "leadsync_sandbox", "leadsync_sandbox.*"]) + ["leadsync_mappings"],
    package_dir={"leadsync_mappings": "mappings"},
)
