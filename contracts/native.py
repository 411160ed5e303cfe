"""Agency-native formats the hub accepts at its edge, exactly as those systems send them.

The civil-status system (justice, hộ tịch) files births on ``agency.justice.outbox`` as a flat JSON
object with Vietnamese field names, dd/mm/yyyy dates and possibly pre-2025 unit codes.
``streams.normalize`` translates it into the canonical :class:`~contracts.filings.BirthFiling`;
nothing of this shape travels further inward.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.identifiers import DossierCode, PersonalIdNumber


class JusticeBirthFiling(BaseModel):
    """Hồ sơ khai sinh as the civil-status system writes it (one JSON object per message)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    loai_ho_so: Literal["khai_sinh"] = Field(description="Procedure kind: khai_sinh (birth registration)")
    ma_ho_so: DossierCode = Field(description="Dossier code, e.g. 000.00.01.H26-261126-0001")
    ngay_tiep_nhan: str = Field(description="Received at, 'dd/mm/yyyy HH:MM' Vietnam time (or ISO 8601)")
    kenh_nop: int = Field(default=2, description="Channel: 1 in person, 2 online, 3 postal")
    ho_ten_nguoi_yeu_cau: str = Field(description="Requester's (người yêu cầu) full name")
    so_dinh_danh_nguoi_yeu_cau: PersonalIdNumber = Field(description="Requester's personal ID number")
    quan_he_nguoi_yeu_cau: str = Field(description="Requester's relationship to the child, e.g. mẹ (mother)")
    so_giay_chung_sinh: str = Field(min_length=1, description="Birth notice (giấy chứng sinh) number")
    ho_ten_tre: str = Field(description="Child's full name")
    ngay_sinh_tre: str = Field(description="Child's date of birth, dd/mm/yyyy")
    gioi_tinh_tre: str = Field(description="Child's sex: Nam (male) or Nữ (female)")
    noi_sinh: str = Field(description="Place of birth")
    dan_toc_tre: str = Field(description="Child's ethnicity, the official two-digit code (01 Kinh…)")
    quoc_tich_tre: str = Field(description="Child's nationality, ISO 3166-1 alpha-2 (VN)")
    que_quan_tre: str | None = Field(default=None, description="Child's hometown (quê quán)")
    ho_ten_me: str = Field(description="Mother's full name")
    so_dinh_danh_me: PersonalIdNumber = Field(description="Mother's personal ID number")
    ngay_sinh_me: str | None = Field(default=None, description="Mother's date of birth, dd/mm/yyyy")
    dan_toc_me: str = Field(description="Mother's ethnicity code")
    quoc_tich_me: str = Field(description="Mother's nationality, ISO 3166-1 alpha-2")
    ho_ten_cha: str | None = Field(default=None, description="Father's full name")
    so_dinh_danh_cha: PersonalIdNumber | None = Field(default=None, description="Father's personal ID number")
    ngay_sinh_cha: str | None = Field(default=None, description="Father's date of birth, dd/mm/yyyy")
    dan_toc_cha: str | None = Field(default=None, description="Father's ethnicity code (when the father is named)")
    quoc_tich_cha: str | None = Field(default=None, description="Father's nationality (when the father is named)")
    ma_tinh: str = Field(pattern=r"^[0-9]{2}$", description="Province code of residence (pre-2025 codes accepted)")
    ma_xa: str = Field(pattern=r"^[0-9]{5}$", description="Commune code of residence (pre-2025 codes accepted)")
    dia_chi: str | None = Field(default=None, description="Street address within the commune")
    so_ban_sao: int = Field(default=0, description="Copies (bản sao) of the birth certificate wanted")
