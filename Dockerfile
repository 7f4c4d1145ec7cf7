# Astro (astro dev start, astro deploy): the Astro Runtime of the newest supported Airflow. The
# Runtime's build steps install packages.txt (none needed) and requirements.txt on top of its own
# Airflow and copy the project to /usr/local/airflow. For Airflow 3.1, use runtime:3.1-12.
# docs/deploy.md: Astro.
FROM astrocrpublic.azurecr.io/runtime:3.3-2
