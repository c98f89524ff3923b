import pytest

from ansible_collections.hybridmon.monitoring.plugins.module_utils._release import (
    ReleaseError, archive_name, normalize_checksum, parse_checksums, release_arch)

SHA = "a" * 64


def test_parse_checksums_reads_sha256sum_output():
    text = "%s  prometheus-3.5.3.linux-amd64.tar.gz\n%s *prometheus-3.5.3.linux-arm64.tar.gz\n\n" % (SHA, "B" * 64)
    assert parse_checksums(text) == {"prometheus-3.5.3.linux-amd64.tar.gz": SHA,
                                     "prometheus-3.5.3.linux-arm64.tar.gz": "b" * 64}


@pytest.mark.parametrize("text,needle", [("nothex  file.tar.gz", "line 1"), ("", "holds no checksums"),
                                         ("%s\n" % SHA, "line 1")])
def test_parse_checksums_names_the_bad_line(text, needle):
    with pytest.raises(ReleaseError, match=needle):
        parse_checksums(text, "sums.txt")


def test_normalize_checksum_accepts_prefix_and_rejects_garbage():
    assert normalize_checksum("sha256:" + SHA.upper()) == SHA
    with pytest.raises(ReleaseError, match="'sha256:123'"):
        normalize_checksum("sha256:123")


def test_arch_and_archive_names():
    assert release_arch("x86_64") == "amd64" and release_arch("aarch64") == "arm64"
    with pytest.raises(ReleaseError, match="'sparc'"):
        release_arch("sparc")
    assert archive_name("{name}-{version}.linux-{arch}.tar.gz", "node_exporter", "1.9.1", "arm64") == \
        "node_exporter-1.9.1.linux-arm64.tar.gz"
    with pytest.raises(ReleaseError, match="placeholders"):
        archive_name("{nope}.tar.gz", "a", "1", "amd64")
