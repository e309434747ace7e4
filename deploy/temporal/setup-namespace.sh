#!/bin/sh
# Runs in temporalio/admin-tools once the server is up: creates the namespace (the plain server image,
# unlike auto-setup, does not) and the referral search attributes. Every step tolerates earlier runs.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
MAX_ATTEMPTS="${SETUP_MAX_ATTEMPTS:-60}"
SLEEP_SECONDS="${SETUP_SLEEP_SECONDS:-5}"
# Keep in step with workflows/search-attributes.ts: name:type.
SEARCH_ATTRIBUTES="ReferralStatus:Keyword ReferrerId:Keyword RefereeId:Keyword ProgramId:Keyword ReferralCode:Keyword ReferralFlags:KeywordList"

# The port opens before the membership ring settles, so each step is retried rather than run once.
retry() {
  what="$1"
  shift
  n=1
  until "$@"; do
    if [ "$n" -ge "$MAX_ATTEMPTS" ]; then
      echo "gave up on $what after $MAX_ATTEMPTS attempts" >&2
      return 1
    fi
    echo "waiting for $what ($n/$MAX_ATTEMPTS)"
    n=$((n + 1))
    sleep "$SLEEP_SECONDS"
  done
}

ensure_namespace() {
  if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
    return 0
  fi
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
}

has_attribute() {
  temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE" | grep -qw "$1"
}

created=0
ensure_attribute() {
  name="${1%%:*}"
  type="${1#*:}"
  if has_attribute "$name"; then
    return 0
  fi
  if out=$(temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" \
    --name "$name" --type "$type" 2>&1); then
    created=1
    return 0
  fi
  echo "$out" >&2
  case "$out" in
    *"different type"*) echo "$name exists with a type other than $type; fix it by hand" >&2; exit 1 ;;
    *"already exists"*) return 0 ;;
  esac
  # The worker registers the same attributes at start; losing that race is fine.
  has_attribute "$name"
}

retry "Temporal at $ADDRESS" temporal operator cluster health --address "$ADDRESS"
retry "namespace $NAMESPACE" ensure_namespace
for attribute in $SEARCH_ATTRIBUTES; do
  retry "search attribute ${attribute%%:*}" ensure_attribute "$attribute"
done

# With SQL visibility the attributes live in the namespace record, which the frontend re-reads about every
# 10s: wait that out once so the app's first workflow starts are not rejected as using unknown attributes.
if [ "$created" -eq 1 ]; then
  sleep 15
fi
echo "namespace $NAMESPACE and its search attributes are ready"
