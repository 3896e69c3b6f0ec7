# 吉快金融 Jikuai — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The test suite runs on the real PostgreSQL (and Redis when REDIS_URL is set); override DATABASE_URL to change it.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/jikuai

.PHONY: system-packages install install-dev run serve test lint pytest smoke worker beat relay bench messages migrate seed clean

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

system-packages:
	bash scripts/system_packages.sh

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@$(PY) manage.py demo_logins
	$(PY) manage.py runserver $(HOST):$(PORT)

serve: install
	$(VENV)/bin/honcho start

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) scripts/check_forbidden_packages.py
	DJANGO_SETTINGS_MODULE=jikuai.settings.production DJANGO_SECRET_KEY=ci-check-$$(openssl rand -hex 24) \
	  JIKUAI_PII_KEYS=ci:00112233445566778899aabbccddeeff JIKUAI_BLIND_INDEX_KEY=00112233445566778899aabbccddeeff \
	  JIKUAI_TOKEN_SIGNING_KEY=00112233445566778899aabbccddeeff ALLOWED_HOSTS=jikuai.example.cn \
	  $(PY) manage.py check --deploy --fail-level WARNING

pytest: install-dev system-packages
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m pytest $(PYTEST_ARGS)

test: lint pytest

smoke: install
	$(PY) scripts/smoke.py

worker: install
	$(VENV)/bin/celery -A jikuai worker -l info -Q celery,interactive,batch,notifications

beat: install
	$(VENV)/bin/celery -A jikuai beat -l info

relay: install
	$(PY) manage.py bus_relay

bench: install-dev
	$(PY) -m bench

messages: install-dev
	$(PY) manage.py makemessages -l en --ignore=.venv --ignore=var
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var db.sqlite3
