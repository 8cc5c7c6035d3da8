# Shared by the scripts: free ports, waiting with deadlines, a local broker.
# Sourced, not run.

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS DESCRIPTION COMMAND...: runs COMMAND until it succeeds or the deadline passes.
wait_until() {
    local seconds="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out after ${seconds}s waiting for ${what}" >&2
            return 1
        fi
        sleep 0.1
    done
}

port_open() {
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' "$1"
}

# start_broker DIR PORT: a local mosquitto for development and tests, loopback only.
start_broker() {
    local dir="$1" port="$2"
    mkdir -p "$dir"
    cat > "$dir/mosquitto.conf" <<CONF
# Written by scripts/lib.sh: a loopback-only broker for the demo. Production: deploy/mosquitto.conf.
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
user root
CONF
    mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
    echo $! > "$dir/mosquitto.pid"
    wait_until 10 "mosquitto on port $port" port_open "$port"
}

# reachable_by_others PATH: whether every folder on the way to PATH lets other users through
# (functions run as their own user and must reach their folders in the agent's state directory).
reachable_by_others() {
    local path="" part
    local IFS=/
    for part in $1; do
        [ -n "$part" ] || continue
        path="$path/$part"
        [ -d "$path" ] || return 0
        [ $(( 0$(stat -c %a "$path") & 1 )) -eq 1 ] || return 1
    done
    return 0
}

# build_release: installs what is missing (setup.sh), builds edge-agent and edgectl (release) and
# prints the folder they are in.
build_release() {
    # (Each step checked: errexit does not reach into a command substitution.)
    scripts/setup.sh >&2 || return
    echo "== building edge-agent and edgectl (release)" >&2
    swift build -c release --product edge-agent >&2 || return
    swift build -c release --product edgectl >&2 || return
    swift build -c release --show-bin-path
}

# function_python: the interpreter functions run with (setup.sh's venv).
function_python() {
    local python="${EDGE_FUNCTION_VENV:-/opt/edge-agent/python}/bin/python3"
    [ -x "$python" ] || python="$PWD/run/function-python/bin/python3"
    echo "$python"
}
