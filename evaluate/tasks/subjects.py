"""The subjects of the four-choice exams and the categories they are reported in.

Copied from the protocols' own scripts: Qwen's ``eval/evaluate_{mmlu,ceval,cmmlu}.py``
(``TASK_NAME_MAPPING``, C-Eval's ``subject_mapping.json``, CMMLU's ``subcategories`` and
``categories`` maps). A category lists subject names; :meth:`evaluate.task.Task.select` accepts
either.
"""

from __future__ import annotations

# ---- MMLU ------------------------------------------------------------------------------------
# Qwen's eval/evaluate_mmlu.py TASK_NAME_MAPPING (the standard MMLU categories).
MMLU_CATEGORIES: dict[str, tuple[str, ...]] = {
    "STEM": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics",
        "computer_security", "conceptual_physics", "electrical_engineering",
        "elementary_mathematics", "high_school_biology", "high_school_chemistry",
        "high_school_computer_science", "high_school_mathematics", "high_school_physics",
        "high_school_statistics", "machine_learning",
    ),
    "Humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
        "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
        "world_religions",
    ),
    "Social Sciences": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
        "sociology", "us_foreign_policy",
    ),
    "Other": (
        "business_ethics", "college_medicine", "human_aging", "management", "marketing",
        "medical_genetics", "miscellaneous", "nutrition", "professional_accounting",
        "professional_medicine", "virology", "global_facts", "clinical_knowledge",
    ),
}
MMLU_SUBJECTS: tuple[str, ...] = tuple(sorted(
    s for group in MMLU_CATEGORIES.values() for s in group))


# ---- C-Eval ----------------------------------------------------------------------------------
# subject -> (English name, Chinese name, category): Qwen's TASK_NAME_MAPPING (= C-Eval's
# subject_mapping.json, = OpenCompass's ceval_subject_mapping).
CEVAL_SUBJECTS: dict[str, tuple[str, str, str]] = {
    "computer_network": ("Computer Network", "计算机网络", "STEM"),
    "operating_system": ("Operating System", "操作系统", "STEM"),
    "computer_architecture": ("Computer Architecture", "计算机组成", "STEM"),
    "college_programming": ("College Programming", "大学编程", "STEM"),
    "college_physics": ("College Physics", "大学物理", "STEM"),
    "college_chemistry": ("College Chemistry", "大学化学", "STEM"),
    "advanced_mathematics": ("Advanced Mathematics", "高等数学", "STEM"),
    "probability_and_statistics": ("Probability and Statistics", "概率统计", "STEM"),
    "discrete_mathematics": ("Discrete Mathematics", "离散数学", "STEM"),
    "electrical_engineer": ("Electrical Engineer", "注册电气工程师", "STEM"),
    "metrology_engineer": ("Metrology Engineer", "注册计量师", "STEM"),
    "high_school_mathematics": ("High School Mathematics", "高中数学", "STEM"),
    "high_school_physics": ("High School Physics", "高中物理", "STEM"),
    "high_school_chemistry": ("High School Chemistry", "高中化学", "STEM"),
    "high_school_biology": ("High School Biology", "高中生物", "STEM"),
    "middle_school_mathematics": ("Middle School Mathematics", "初中数学", "STEM"),
    "middle_school_biology": ("Middle School Biology", "初中生物", "STEM"),
    "middle_school_physics": ("Middle School Physics", "初中物理", "STEM"),
    "middle_school_chemistry": ("Middle School Chemistry", "初中化学", "STEM"),
    "veterinary_medicine": ("Veterinary Medicine", "兽医学", "STEM"),
    "college_economics": ("College Economics", "大学经济学", "Social Science"),
    "business_administration": ("Business Administration", "工商管理", "Social Science"),
    "marxism": ("Marxism", "马克思主义基本原理", "Social Science"),
    "mao_zedong_thought": (
        "Mao Zedong Thought", "毛泽东思想和中国特色社会主义理论体系概论", "Social Science"),
    "education_science": ("Education Science", "教育学", "Social Science"),
    "teacher_qualification": ("Teacher Qualification", "教师资格", "Social Science"),
    "high_school_politics": ("High School Politics", "高中政治", "Social Science"),
    "high_school_geography": ("High School Geography", "高中地理", "Social Science"),
    "middle_school_politics": ("Middle School Politics", "初中政治", "Social Science"),
    "middle_school_geography": ("Middle School Geography", "初中地理", "Social Science"),
    "modern_chinese_history": ("Modern Chinese History", "近代史纲要", "Humanities"),
    "ideological_and_moral_cultivation": (
        "Ideological and Moral Cultivation", "思想道德修养与法律基础", "Humanities"),
    "logic": ("Logic", "逻辑学", "Humanities"),
    "law": ("Law", "法学", "Humanities"),
    "chinese_language_and_literature": (
        "Chinese Language and Literature", "中国语言文学", "Humanities"),
    "art_studies": ("Art Studies", "艺术学", "Humanities"),
    "professional_tour_guide": ("Professional Tour Guide", "导游资格", "Humanities"),
    "legal_professional": ("Legal Professional", "法律职业资格", "Humanities"),
    "high_school_chinese": ("High School Chinese", "高中语文", "Humanities"),
    "high_school_history": ("High School History", "高中历史", "Humanities"),
    "middle_school_history": ("Middle School History", "初中历史", "Humanities"),
    "civil_servant": ("Civil Servant", "公务员", "Other"),
    "sports_science": ("Sports Science", "体育学", "Other"),
    "plant_protection": ("Plant Protection", "植物保护", "Other"),
    "basic_medicine": ("Basic Medicine", "基础医学", "Other"),
    "clinical_medicine": ("Clinical Medicine", "临床医学", "Other"),
    "urban_and_rural_planner": ("Urban and Rural Planner", "注册城乡规划师", "Other"),
    "accountant": ("Accountant", "注册会计师", "Other"),
    "fire_engineer": ("Fire Engineer", "注册消防工程师", "Other"),
    "environmental_impact_assessment_engineer": (
        "Environmental Impact Assessment Engineer", "环境影响评价工程师", "Other"),
    "tax_accountant": ("Tax Accountant", "税务师", "Other"),
    "physician": ("Physician", "医师资格", "Other"),
}
CEVAL_HARD = ("advanced_mathematics", "discrete_mathematics", "probability_and_statistics",
              "college_physics", "college_chemistry", "high_school_mathematics",
              "high_school_physics", "high_school_chemistry")
CEVAL_CATEGORIES: dict[str, tuple[str, ...]] = {
    **{name: tuple(s for s, (_, _, c) in CEVAL_SUBJECTS.items() if c == name)
       for name in ("STEM", "Social Science", "Humanities", "Other")},
    "Hard": CEVAL_HARD,
}


# ---- CMMLU -----------------------------------------------------------------------------------
CMMLU_SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "agronomy": ("other",), "anatomy": ("biology",),
    "ancient_chinese": ("linguistics", "china specific"), "arts": ("arts",),
    "astronomy": ("physics",), "business_ethics": ("business",),
    "chinese_civil_service_exam": ("politics", "china specific"),
    "chinese_driving_rule": ("other", "china specific"),
    "chinese_food_culture": ("culture", "china specific"),
    "chinese_foreign_policy": ("politics", "china specific"),
    "chinese_history": ("history", "china specific"),
    "chinese_literature": ("literature", "china specific"),
    "chinese_teacher_qualification": ("education", "china specific"),
    "college_actuarial_science": ("math",), "college_education": ("education",),
    "college_engineering_hydrology": ("engineering",), "college_law": ("law",),
    "college_mathematics": ("math",), "college_medical_statistics": ("statistics",),
    "clinical_knowledge": ("other",), "college_medicine": ("other",),
    "computer_science": ("computer science",), "computer_security": ("other",),
    "conceptual_physics": ("physics",),
    "construction_project_management": ("other", "china specific"),
    "economics": ("economics",), "education": ("education",),
    "elementary_chinese": ("linguistics", "china specific"),
    "elementary_commonsense": ("other", "china specific"),
    "elementary_information_and_technology": ("other",),
    "electrical_engineering": ("engineering",), "elementary_mathematics": ("math",),
    "ethnology": ("culture", "china specific"), "food_science": ("other",),
    "genetics": ("biology",), "global_facts": ("global",),
    "high_school_biology": ("biology",), "high_school_chemistry": ("chemistry",),
    "high_school_geography": ("geography",), "high_school_mathematics": ("math",),
    "high_school_physics": ("physics",),
    "high_school_politics": ("politics", "china specific"),
    "human_sexuality": ("other",), "international_law": ("law",),
    "journalism": ("sociology",), "jurisprudence": ("law",),
    "legal_and_moral_basis": ("other",), "logical": ("philosophy",),
    "machine_learning": ("computer science",), "management": ("business",),
    "marketing": ("business",), "marxist_theory": ("philosophy",),
    "modern_chinese": ("linguistics", "china specific"), "nutrition": ("other",),
    "philosophy": ("philosophy",), "professional_accounting": ("business",),
    "professional_law": ("law",), "professional_medicine": ("other",),
    "professional_psychology": ("psychology",), "public_relations": ("politics",),
    "security_study": ("politics",), "sociology": ("culture",),
    "sports_science": ("other",),
    "traditional_chinese_medicine": ("other", "china specific"),
    "virology": ("biology",), "world_history": ("history",), "world_religions": ("global",),
}
_CMMLU_GROUPS: dict[str, tuple[str, ...]] = {
    "STEM": ("physics", "chemistry", "biology", "computer science", "math", "engineering",
             "statistics"),
    "Humanities": ("history", "philosophy", "law", "arts", "literature", "global"),
    "Social Science": ("linguistics", "business", "politics", "culture", "economics",
                       "geography", "psychology", "education", "sociology"),
    "Other": ("other",),
    "China specific": ("china specific",),
}
CMMLU_CATEGORIES: dict[str, tuple[str, ...]] = {
    name: tuple(s for s, subs in CMMLU_SUBCATEGORIES.items() if set(subs) & set(groups))
    for name, groups in _CMMLU_GROUPS.items()
}


# CMMLU subject -> Chinese name, in the order of OpenCompass's cmmlu_subject_mapping (the
# cmmlu_ppl_041cbf and cmmlu_gen_c13365 configs share it).
CMMLU_CHINESE_NAMES: dict[str, str] = {
    "agronomy": "农学", "anatomy": "解剖学", "ancient_chinese": "古汉语", "arts": "艺术学",
    "astronomy": "天文学", "business_ethics": "商业伦理",
    "chinese_civil_service_exam": "中国公务员考试", "chinese_driving_rule": "中国驾驶规则",
    "chinese_food_culture": "中国饮食文化", "chinese_foreign_policy": "中国外交政策",
    "chinese_history": "中国历史", "chinese_literature": "中国文学",
    "chinese_teacher_qualification": "中国教师资格", "clinical_knowledge": "临床知识",
    "college_actuarial_science": "大学精算学", "college_education": "大学教育学",
    "college_engineering_hydrology": "大学工程水文学", "college_law": "大学法律",
    "college_mathematics": "大学数学", "college_medical_statistics": "大学医学统计",
    "college_medicine": "大学医学", "computer_science": "计算机科学",
    "computer_security": "计算机安全", "conceptual_physics": "概念物理学",
    "construction_project_management": "建设工程管理", "economics": "经济学",
    "education": "教育学", "electrical_engineering": "电气工程", "elementary_chinese": "小学语文",
    "elementary_commonsense": "小学常识", "elementary_information_and_technology": "小学信息技术",
    "elementary_mathematics": "初等数学", "ethnology": "民族学", "food_science": "食品科学",
    "genetics": "遗传学", "global_facts": "全球事实", "high_school_biology": "高中生物",
    "high_school_chemistry": "高中化学", "high_school_geography": "高中地理",
    "high_school_mathematics": "高中数学", "high_school_physics": "高中物理学",
    "high_school_politics": "高中政治", "human_sexuality": "人类性行为",
    "international_law": "国际法学", "journalism": "新闻学", "jurisprudence": "法理学",
    "legal_and_moral_basis": "法律与道德基础", "logical": "逻辑学", "machine_learning": "机器学习",
    "management": "管理学", "marketing": "市场营销", "marxist_theory": "马克思主义理论",
    "modern_chinese": "现代汉语", "nutrition": "营养学", "philosophy": "哲学",
    "professional_accounting": "专业会计", "professional_law": "专业法学",
    "professional_medicine": "专业医学", "professional_psychology": "专业心理学",
    "public_relations": "公共关系", "security_study": "安全研究", "sociology": "社会学",
    "sports_science": "体育学", "traditional_chinese_medicine": "中医中药", "virology": "病毒学",
    "world_history": "世界历史", "world_religions": "世界宗教",
}
