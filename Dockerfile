# growthflow's Airflow image: the official Airflow image of the version in uv.lock,
# plus growthflow's locked dependencies. The code (dags/, src/, plugins/, dbt_project/,
# expectations/, models_ltv/) is copied in too, so the image runs on its own; the
# compose file mounts the working tree over it for development.
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.12

USER airflow
WORKDIR /opt/growthflow
COPY --chown=airflow:root pyproject.toml uv.lock ./
# The lock file, exported without the project itself and without dev tools, pins every
# package; Airflow is pinned to the image's own version by the same lock.
RUN pip install --no-cache-dir uv \
    && uv export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt -o /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY --chown=airflow:root dags/ dags/
COPY --chown=airflow:root plugins/ plugins/
COPY --chown=airflow:root src/ src/
COPY --chown=airflow:root dbt_project/ dbt_project/
COPY --chown=airflow:root expectations/ expectations/
COPY --chown=airflow:root models_ltv/ models_ltv/
# The dashboards as code, for `growthflow bi import` (Superset itself runs in its own image).
COPY --chown=airflow:root bi/assets/ bi/assets/
COPY --chown=airflow:root bin/ bin/

ENV PYTHONPATH=/opt/growthflow/src:/opt/growthflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/growthflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/growthflow/plugins
