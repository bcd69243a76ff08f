# The Calendar Assistant as the upstream image set runs it: build from the repository root with
#   docker build -f deploy/docker/app.Dockerfile -t chaos-drill/calendar-assistant-upstream:1.0.0 .
FROM python:3.11-slim
RUN pip install --no-cache-dir "pymongo>=4.6,<5" "redis>=5,<9"
WORKDIR /app
COPY sandbox /app/sandbox
CMD ["python3", "-m", "sandbox.calendar_assistant", "--host", "0.0.0.0", "--port", "8080"]
