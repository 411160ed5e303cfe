"""Dossier status vocabulary as synced to the national public-service portal."""

from __future__ import annotations

from enum import IntEnum


class DossierStatus(IntEnum):
    """The ten portal statuses. Overdue is a flag, not a status."""

    NEWLY_REGISTERED = 1  # Mới đăng ký
    ACCEPTED = 2  # Được tiếp nhận
    NOT_ACCEPTED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    DOCUMENTS_REQUESTED = 5  # Yêu cầu bổ sung giấy tờ
    FINANCIAL_OBLIGATION_REQUESTED = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    WITHDRAWN = 7  # Công dân yêu cầu rút hồ sơ
    PROCESSING_STOPPED = 8  # Dừng xử lý
    PROCESSED = 9  # Đã xử lý xong
    RESULT_RETURNED = 10  # Đã trả kết quả

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


_LABELS = {
    DossierStatus.NEWLY_REGISTERED: "Mới đăng ký",
    DossierStatus.ACCEPTED: "Được tiếp nhận",
    DossierStatus.NOT_ACCEPTED: "Không được tiếp nhận",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.DOCUMENTS_REQUESTED: "Yêu cầu bổ sung giấy tờ",
    DossierStatus.FINANCIAL_OBLIGATION_REQUESTED: "Yêu cầu thực hiện nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    DossierStatus.PROCESSING_STOPPED: "Dừng xử lý",
    DossierStatus.PROCESSED: "Đã xử lý xong",
    DossierStatus.RESULT_RETURNED: "Đã trả kết quả",
}

FINAL_STATUSES = frozenset(
    {
        DossierStatus.NOT_ACCEPTED,
        DossierStatus.WITHDRAWN,
        DossierStatus.PROCESSING_STOPPED,
        DossierStatus.RESULT_RETURNED,
    }
)


class Channel(IntEnum):
    """How the dossier was filed (kênh nộp)."""

    IN_PERSON = 1
    ONLINE = 2
    POSTAL = 3
