"""Spreadsheet → inventory YAML: formats, header mapping, row problems, round trip."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
import yaml

from agent.errors import InventoryImportError
from config.importer import ImportResult, RowProblem, import_inventory, render_inventory_yaml
from config.loader import load_config
from config.models import DeviceConfig, InventoryFile

FIXTURES = Path(__file__).parent / "fixtures"
LEVEL_HELP = (
    "use 1–4 (1 = most critical) or one of critical/high/medium/low, "
    "核心/重要/一般/次要, 一级/二级/三级/四级"
)
SUPPORTED = ("supported: linux, local, cisco_ios, cisco_nxos, huawei_vrp, hp_comware, "
             "juniper_junos, arista_eos")


def dev(**fields: object) -> DeviceConfig:
    return DeviceConfig.model_validate(fields)


def write_csv(tmp_path: Path, text: str, name: str = "sheet.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def round_trip(tmp_path: Path, result: ImportResult, source: Path) -> list[DeviceConfig]:
    """Write the YAML next to a main config that references it; load it through load_config."""
    (tmp_path / "inventory.yaml").write_text(render_inventory_yaml(result, source),
                                             encoding="utf-8")
    config = tmp_path / "xunjian.yaml"
    config.write_text(
        "inventory: [inventory.yaml]\n"
        "credentials: {ops: {username: x, password_env: X}}\n"
        "defaults: {credentials: ops}\n",
        encoding="utf-8",
    )
    loaded = load_config(config, env={"X": "secret"})
    assert loaded.warnings == []
    return list(loaded.config.devices)


# --- the fixtures --------------------------------------------------------------------------------


def test_english_csv() -> None:
    result = import_inventory(FIXTURES / "devices_en.csv")
    assert result.problems == []
    assert result.unmapped_columns == ["Notes"]
    assert result.devices == [
        dev(name="web-01", address="10.10.1.11", port=22, platform="linux", vendor="Dell",
            model="PowerEdge R740", serial="CN7X2A1", location="Beijing DC1 A01-12",
            business_system="Online Mall", business_level=1, owner="Zhang Wei",
            warranty_end=date(2027, 3, 31), groups=["web", "prod"], tags=["nginx"],
            credentials="ops"),
        dev(name="web-02", address="10.10.1.12", platform="linux", vendor="Dell",
            model="PowerEdge R740", serial="CN7X2A2", location="Beijing DC1 A01-13",
            business_system="Online Mall", business_level=1, owner="Zhang Wei",
            warranty_end=date(2027, 3, 31), groups=["web", "prod"]),
        dev(name="db-01", address="db-01.corp.example.com", port=2222, platform="linux",
            vendor="Inspur", model="NF5280M6", location="Beijing DC1 B02-01",
            business_system="ERP", business_level=2, owner="Li Na",
            warranty_end=date(2026, 12, 31), groups=["db"], tags=["mysql", "primary"],
            credentials="ops"),
        dev(name="agent-host", address="127.0.0.1", platform="local", business_level=4),
    ]


def test_chinese_gbk_csv() -> None:
    path = FIXTURES / "devices_zh_gbk.csv"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # the fixture really is GBK
    result = import_inventory(path)
    assert result.unmapped_columns == []
    assert result.devices == [
        dev(name="bj-web-01", address="192.168.10.11", port=22, platform="linux",
            vendor="浪潮", model="NF5280M5", serial="219012345", location="北京亦庄机房 A01-12",
            business_system="网上营业厅", business_level=1, owner="张伟",
            warranty_end=date(2027, 3, 31)),
        dev(name="bj-web-02", address="192.168.10.12", port=22, platform="linux",
            vendor="浪潮", model="NF5280M5", serial="219012346", location="北京亦庄机房 A01-13",
            business_system="网上营业厅", business_level=1, owner="张伟",
            warranty_end=date(2027, 3, 31)),
        dev(name="bj-db-01", address="192.168.20.21", port=22022, platform="linux",
            vendor="联想", model="ThinkSystem SR650", serial="J30A7K2B",
            location="北京亦庄机房 B03-05", business_system="计费系统", business_level=2,
            owner="李娜", warranty_end=date(2026, 12, 31)),
        dev(name="bj-oa-01", address="192.168.30.5", platform="linux", vendor="戴尔",
            model="PowerEdge R730", serial="7XK2M42", location="北京亦庄机房 C02-08",
            business_system="OA办公系统", business_level=3, owner="王芳",
            warranty_end=date(2025, 6, 30)),
        # the vendor makes the core switch a Huawei VRP device
        dev(name="bj-core-sw-01", address="192.168.1.1", port=22, platform="huawei_vrp",
            vendor="华为", model="CE6881-48S6CQ", serial="2102351234",
            location="北京亦庄机房 A01-01", business_system="核心网络", business_level=1,
            owner="赵强", warranty_end=date(2027, 12, 31)),
    ]
    assert result.problems == []


def test_utf8_bom_semicolon_csv() -> None:
    result = import_inventory(FIXTURES / "devices_bom_semicolon.csv")
    assert result.problems == []
    assert result.unmapped_columns == ["备注"]
    assert result.devices == [
        dev(name="app-01", address="10.0.0.5", port=22, platform="linux",
            location="上海外高桥 3F-07", business_level=2, tags=["java", "spring"]),
        dev(name="app-02", address="10.0.0.6", port=2200, platform="linux",
            location="上海外高桥 3F-08", business_level=3, tags=["java"]),
    ]


def test_problem_rows() -> None:
    result = import_inventory(FIXTURES / "devices_problems.csv")
    assert result.devices == [
        dev(name="ok-01", address="10.1.0.1", port=22, platform="linux", business_level=1,
            warranty_end=date(2027, 1, 1)),
        # network devices, by vendor and by platform word
        dev(name="sw-01", address="10.1.0.10", platform="huawei_vrp", vendor="Huawei"),
        dev(name="sw-02", address="10.1.0.11", platform="huawei_vrp"),
        dev(name="ok-02", address="10.1.0.15", port=22, platform="linux", business_level=3,
            warranty_end=date(2027, 3, 31)),
    ]
    assert result.problems == [
        RowProblem(3, f"business level: unknown business level 'urgent': {LEVEL_HELP}"),
        RowProblem(4, "address '10.1.0.3 10.1.0.4' is not a host name or IP address"),
        RowProblem(5, "address '10.1.0.5;reboot' is not a host name or IP address"),
        RowProblem(6, "duplicate device name 'ok-01' (first on row 2); "
                      "device names must be unique"),
        RowProblem(7, "missing device name"),
        # row 8 is empty: skipped silently
        RowProblem(9, "device name: 'web 01' contains a space, '/' or '\\'; device names "
                      "cannot (use - or _ instead)"),
        RowProblem(10, f"platform: 'Windows Server 2019' is not recognised: {SUPPORTED} "
                       "(OS names such as CentOS, Ubuntu, 麒麟 or 统信 UOS count as linux)"),
        RowProblem(13, "port: 'ssh' is not a whole number"),
        RowProblem(14, "warranty end: '2027-13-01' is not a date: use 2027-03-31, 2027/3/31 "
                       "or 2027.03.31"),
        RowProblem(15, "port: 70000 is out of range: input should be less than or equal to "
                       "65535"),
        RowProblem(15, "business level: '5' is out of range: input should be less than or "
                       "equal to 4"),
        RowProblem(16, "missing address"),
    ]


def build_xlsx(path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "服务器"
    sheet.append(["XX科技有限公司 服务器设备清单（2025年）"])
    sheet.append(["主机名", "IP地址", "SSH端口", "操作系统", "厂商", "序列号", "机房",
                  "重要级别", "维保到期", "分组", "标签", "凭据", "备注"])
    sheet.append(["gz-app-01", "10.20.0.11", 22.0, "银河麒麟 V10", "华为", "2102310ABC",
                  "广州南沙机房 R12", 1, datetime(2027, 3, 31), "应用、生产", "java；tomcat",
                  "ops", "TaiShan 200"])
    sheet.append([])
    sheet.append(["gz-db-01", "10.20.0.21", 22022, "openEuler 22.03", "浪潮", 219055555,
                  "广州南沙机房 R13", 2.0, date(2026, 6, 30), "数据库"])
    sheet.append(["gz-bad", "10.20.0.31", "22", "CentOS", None, None, None, "紧急", "明年"])
    sheet.append([" gz-web-01 ", "10.20.0.41", 22, None, "Lenovo", None, None, "二级",
                  "2027/3/31"])
    # a second sheet is ignored: only the first one is read
    workbook.create_sheet("交换机").append(["设备名称", "管理IP"])
    workbook.save(path)
    workbook.close()


def test_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "设备清单.xlsx"
    build_xlsx(path)
    result = import_inventory(path)
    assert result.unmapped_columns == ["备注"]
    assert result.devices == [
        # the OS column wins over the vendor: a Huawei server running Kylin is linux
        dev(name="gz-app-01", address="10.20.0.11", port=22, platform="linux", vendor="华为",
            serial="2102310ABC", location="广州南沙机房 R12", business_level=1,
            warranty_end=date(2027, 3, 31), groups=["应用", "生产"], tags=["java", "tomcat"],
            credentials="ops"),
        dev(name="gz-db-01", address="10.20.0.21", port=22022, platform="linux",
            vendor="浪潮", serial="219055555", location="广州南沙机房 R13", business_level=2,
            warranty_end=date(2026, 6, 30), groups=["数据库"]),
        dev(name="gz-web-01", address="10.20.0.41", port=22, platform="linux", vendor="Lenovo",
            business_level=2, warranty_end=date(2027, 3, 31)),
    ]
    assert result.problems == [
        RowProblem(6, "warranty end (维保到期): '明年' is not a date: use 2027-03-31, "
                      "2027/3/31 or 2027.03.31"),
        RowProblem(6, f"business level (重要级别): unknown business level '紧急': {LEVEL_HELP}"),
    ]


# --- round trip through load_config --------------------------------------------------------------


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.csv")))
def test_csv_round_trips_through_load_config(tmp_path: Path, fixture: str) -> None:
    result = import_inventory(FIXTURES / fixture)
    assert result.devices
    assert round_trip(tmp_path, result, FIXTURES / fixture) == result.devices


def test_xlsx_round_trips_through_load_config(tmp_path: Path) -> None:
    path = tmp_path / "设备清单.xlsx"
    build_xlsx(path)
    result = import_inventory(path)
    assert round_trip(tmp_path, result, path) == result.devices


def test_rendered_yaml() -> None:
    result = ImportResult(
        devices=[
            dev(name="bj-web-01", address="192.168.10.11", port=22, platform="linux",
                serial="00123", location="北京亦庄机房 A01-12", business_level=1,
                warranty_end=date(2027, 3, 31), groups=["web"], tags=["nginx"]),
            dev(name="bj-db-01", address="192.168.20.21", platform="linux", groups=["db", "web"]),
        ],
        problems=[RowProblem(5, "missing device name"),
                  RowProblem(3, "platform 'huawei' is not supported yet: supported: linux, local")],
        unmapped_columns=["备注", "CPU"],
    )
    text = render_inventory_yaml(result, Path("设备清单.xlsx"), today=date(2025, 1, 2))
    assert text == """\
# Generated from 设备清单.xlsx on 2025-01-02 by `xunjian inventory import`.
# 2 devices.
# 2 rows skipped:
#   row 3: platform 'huawei' is not supported yet: supported: linux, local
#   row 5: missing device name
# Columns not imported (not recognised): 备注, CPU
# Groups are declared empty so this file validates on its own; give them settings here \
(or move them to the main config and delete them here).

groups:
  web: {}
  db: {}
devices:
- name: bj-web-01
  address: 192.168.10.11
  port: 22
  platform: linux
  serial: '00123'
  location: 北京亦庄机房 A01-12
  business_level: 1
  warranty_end: 2027-03-31
  groups:
  - web
  tags:
  - nginx
- name: bj-db-01
  address: 192.168.20.21
  platform: linux
  groups:
  - db
  - web
"""
    assert InventoryFile.model_validate(yaml.safe_load(text)).devices == result.devices


def test_rendered_yaml_without_devices(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "name,address\n")
    result = import_inventory(path)
    assert result == ImportResult([], [], [])
    text = render_inventory_yaml(result, path, today=date(2025, 1, 2))
    assert "# 0 devices." in text
    assert yaml.safe_load(text) == {"devices": []}


# --- formats -------------------------------------------------------------------------------------


def test_tab_delimited_gb18030_with_title_rows(tmp_path: Path) -> None:
    text = "服务器清单\t\t\n\n主机名\t管理地址\t等级\nsrv-01\t10.0.0.1\t次要\n"
    result = import_inventory(write_csv(tmp_path, text, encoding="gb18030"))
    assert result.devices == [dev(name="srv-01", address="10.0.0.1", platform="linux",
                                  business_level=4)]
    assert result.problems == []


def test_row_numbers_count_title_rows_and_blank_lines(tmp_path: Path) -> None:
    text = "Device register 2025\n\nname,ip\nok,10.0.0.1\n\nbad one,10.0.0.2\n"
    result = import_inventory(write_csv(tmp_path, text))
    assert [p.row for p in result.problems] == [6]


def test_excel_sep_hint_line(tmp_path: Path) -> None:
    result = import_inventory(write_csv(tmp_path, "sep=;\nname;ip;port\nweb,1;10.0.0.1;22\n"))
    assert [p.row for p in result.problems] == []
    assert result.devices == [dev(name="web,1", address="10.0.0.1", port=22, platform="linux")]


def test_utf16_csv(tmp_path: Path) -> None:
    result = import_inventory(write_csv(tmp_path, "\ufeff设备名\tIP\nweb\t10.0.0.1\n",
                                        encoding="utf-16-le"))
    assert result.devices == [dev(name="web", address="10.0.0.1", platform="linux")]


def test_headers_are_case_space_and_separator_insensitive(tmp_path: Path) -> None:
    text = ("  Device_Name ,MGMT-IP,ssh_port,Business-System,business level,Serial Number,"
            "WARRANTY_END,管理IP\n"
            "web,10.0.0.1,2022,CRM,P2,SN1,2027-03-31,10.9.9.9\n")
    result = import_inventory(write_csv(tmp_path, text))
    # a second column for a field already mapped is not used, and reported
    assert result.unmapped_columns == ["管理IP"]
    assert result.devices == [dev(name="web", address="10.0.0.1", port=2022, platform="linux",
                                  business_system="CRM", business_level=2, serial="SN1",
                                  warranty_end=date(2027, 3, 31))]


@pytest.mark.parametrize("cell", ["2027-03-31", "2027/3/31", "2027.03.31", "2027年3月31日",
                                  "20270331", "2027/03/31 00:00:00"])
def test_date_formats(tmp_path: Path, cell: str) -> None:
    result = import_inventory(write_csv(tmp_path, f"name,ip,保修到期\nweb,10.0.0.1,{cell}\n"))
    assert result.problems == []
    assert result.devices[0].warranty_end == date(2027, 3, 31)


@pytest.mark.parametrize(("cell", "platform"), [
    ("Linux", "linux"), ("CentOS Linux 7", "linux"), ("RHEL 9", "linux"),
    ("Ubuntu", "linux"), ("Debian 12", "linux"), ("Kylin V10 SP3", "linux"),
    ("中标麒麟", "linux"), ("统信UOS", "linux"), ("UOS 20", "linux"),
    ("openEuler 22.03", "linux"), ("SUSE 15", "linux"), ("local", "local"),
])
def test_platform_words(tmp_path: Path, cell: str, platform: str) -> None:
    result = import_inventory(write_csv(tmp_path, f"name,ip,系统类型\nweb,10.0.0.1,{cell}\n"))
    assert result.problems == []
    assert result.devices[0].platform == platform


@pytest.mark.parametrize(("cell", "platform"), [
    ("Huawei", "huawei_vrp"), ("H3C", "hp_comware"), ("新华三", "hp_comware"),
    ("Cisco", "cisco_ios"), ("Juniper", "juniper_junos"), ("Arista", "arista_eos"),
])
def test_network_vendors_map_to_their_platform(tmp_path: Path, cell: str, platform: str) -> None:
    result = import_inventory(write_csv(tmp_path, f"name,ip,厂商\nsw,10.0.0.1,{cell}\n"))
    assert result.problems == []
    assert [d.platform for d in result.devices] == [platform]


def test_default_platform(tmp_path: Path) -> None:
    result = import_inventory(write_csv(tmp_path, "name,ip,vendor\nme,localhost,Dell\n"),
                              default_platform="local")
    assert result.devices == [dev(name="me", address="localhost", platform="local",
                                  vendor="Dell")]
    with pytest.raises(InventoryImportError, match="default platform 'windows'"):
        import_inventory(write_csv(tmp_path, "name\nx\n"), default_platform="windows")


def test_only_an_address_column(tmp_path: Path) -> None:
    result = import_inventory(write_csv(tmp_path, "IP,负责人\n10.0.0.1,张伟\n,李娜\n"))
    assert result.devices == [dev(name="10.0.0.1", address="10.0.0.1", platform="linux",
                                  owner="张伟")]
    assert result.problems == [RowProblem(3, "missing address")]


def test_only_a_name_column(tmp_path: Path) -> None:
    result = import_inventory(write_csv(tmp_path, "hostname\ndb01.example.com\n"))
    assert result.devices == [dev(name="db01.example.com", address="db01.example.com",
                                  platform="linux")]


# --- files that cannot be read -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["devices.xls", "devices.ods", "devices.txt", "devices"])
def test_other_extensions(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("name,ip\n", encoding="utf-8")
    with pytest.raises(InventoryImportError, match=r"save the sheet as \.csv or \.xlsx"):
        import_inventory(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryImportError, match="file not found"):
        import_inventory(tmp_path / "nope.csv")
    with pytest.raises(InventoryImportError, match="file not found"):
        import_inventory(tmp_path / "nope.xlsx")


def test_no_name_or_address_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "序号,型号,厂商\n1,R740,Dell\n")
    with pytest.raises(InventoryImportError) as info:
        import_inventory(path)
    message = str(info.value)
    assert "Headers found: 序号, 型号, 厂商." in message
    assert "设备名称" in message
    assert "管理ip" in message


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryImportError, match="a header row is required"):
        import_inventory(write_csv(tmp_path, "\n,,\n"))


def test_undecodable_csv(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"name,ip\n\xff\xff,1\n")
    with pytest.raises(InventoryImportError, match="neither UTF-8 nor GBK"):
        import_inventory(path)


def test_corrupt_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"name,ip\nweb,10.0.0.1\n")
    with pytest.raises(InventoryImportError, match=r"not a readable \.xlsx workbook"):
        import_inventory(path)
