# Sourced by the benchmark scripts: `start_clickhouse DIR HTTP_PORT TCP_PORT` starts Debian's
# clickhouse-server on 127.0.0.1 with its data under DIR (stop it with
# `pkill -f DIR/config.xml`), and waits until it answers.
start_clickhouse() {
  local dir=$1 http=$2 tcp=$3
  mkdir -p "$dir"
  cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>/etc/clickhouse-server/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709</mark_cache_size>
</yandex>
XML
  (clickhouse-server --config-file="$dir/config.xml" > "$dir/log" 2>&1 &)
  for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$http/ping" > /dev/null && return 0
    sleep 0.2
  done
  echo "clickhouse-server did not answer on port $http" >&2
  return 1
}
